//! The local connectors end to end: a following file source, stdin to stdout through the
//! binary, and the file sink's append and truncate modes; docs/connectors.md kept in step with
//! the registry.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use runnel_engine::Role;

use crate::support::{pipeline, runnel_bin, validate_doc_examples};

#[tokio::test]
async fn a_following_file_source_reads_lines_appended_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("growing.ndjson");
    std::fs::write(&path, "{\"n\":1}\n").expect("writes");
    let running = pipeline(&format!(
        "[sources.in]\ntype = \"file\"\npath = \"{}\"\nfollow = true\npoll_interval_ms = 10\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n",
        path.display()
    ))
    .start()
    .await
    .expect("starts");
    let mut output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let stop = running.shutdown_token();
    let done = tokio::spawn(running.run_until(async move { stop.cancelled().await }, Duration::from_secs(5)));
    assert_eq!(output.recv().await.map(|m| m.value()["n"].clone()), Some(serde_json::json!(1)));
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("opens");
    // A line written in two parts is read once complete, not as two broken halves.
    file.write_all(b"{\"n\":").expect("appends");
    file.flush().expect("flushes");
    file.write_all(b"2}\n{\"n\":3}\n").expect("appends");
    let second = output.recv().await.expect("second line");
    let third = output.recv().await.expect("third line");
    assert_eq!((second.value()["n"].as_i64(), third.value()["n"].as_i64()), (Some(2), Some(3)));
    assert_eq!(third.meta().origin.offset, Some(3), "line numbers continue");
    done.abort();
}

#[test]
fn stdin_to_stdout_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "[sources.in]\ntype = \"stdin\"\n[blocks.double]\ntype = \"map\"\ninputs = [\"in\"]\nprogram = \".n * 2\"\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"double\"]\n",
    )
    .expect("writes");
    let mut child = Command::new(runnel_bin())
        .args(["run", "--no-metrics", file.to_str().expect("utf-8")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"{\"n\":1}\n{\"n\":2}\nbroken\n{\"n\":21}\n").expect("writes");
    drop(stdin);
    let out = child.wait_with_output().expect("exits");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n4\n42\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin:3: invalid JSON"), "the bad line is logged with its number: {stderr}");
    assert!(stderr.contains("runnel: 3 messages in, 3 out, 1 errors, 1 dropped"), "{stderr}");
}

#[tokio::test]
async fn the_file_sink_appends_or_truncates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.ndjson");
    std::fs::write(&path, "{\"old\":true}\n").expect("writes");
    let run = |append: bool| {
        let toml = format!(
            "[sources.in]\ntype = \"memory\"\nmessages = [{{ new = true }}]\n[sinks.f]\ntype = \"file\"\ninputs = [\"in\"]\npath = \"{}\"\nappend = {append}\n",
            path.display()
        );
        async move { pipeline(&toml).start().await.expect("starts").wait().await.expect("runs") }
    };
    run(true).await;
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "{\"old\":true}\n{\"new\":true}\n");
    run(false).await;
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "{\"new\":true}\n");
}

/// A file that ends in an unfinished line (a crash, a full disk) gets its next record on a line of
/// its own, and the unfinished line stays, whole, to recover.
#[tokio::test]
async fn the_file_sink_starts_a_fresh_line_after_an_unfinished_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.ndjson");
    std::fs::write(&path, "{\"old\":true}\n{\"cut\":").expect("writes");
    let toml = format!(
        "[sources.in]\ntype = \"memory\"\nmessages = [{{ new = true }}]\n[sinks.f]\ntype = \"file\"\ninputs = [\"in\"]\npath = \"{}\"\n",
        path.display()
    );
    pipeline(&toml).start().await.expect("starts").wait().await.expect("runs");
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "{\"old\":true}\n{\"cut\":\n{\"new\":true}\n");
}

/// A line longer than `max_line_bytes` goes to the errors port with its line number and first
/// bytes, and the lines after it are read as usual.
#[tokio::test]
async fn a_line_over_max_line_bytes_goes_to_the_errors_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    let long = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
    std::fs::write(&input, format!("{{\"n\":1}}\n{long}\n{{\"n\":3}}\n")).expect("writes");
    let toml = format!(
        "[sources.in]\ntype = \"file\"\npath = \"{}\"\nmax_line_bytes = 1000\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n[sinks.dead]\ntype = \"memory\"\ninputs = [\"in.errors\"]\n",
        input.display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let out = runnel::take_output(running.resources(), "out").expect("out");
    let dead = runnel::take_output(running.resources(), "dead").expect("dead");
    let (values, errors, result) = tokio::join!(out.collect_values(), dead.collect_values(), running.wait());
    result.expect("runs");
    assert_eq!(values, vec![serde_json::json!({"n": 1}), serde_json::json!({"n": 3})]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["origin"]["offset"], 2);
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains(":2: the line is 10010 bytes, longer than `max_line_bytes`"), "{error}");
    assert!(errors[0]["message"].as_str().expect("its first bytes").starts_with("{\"pad\":\"xxx"));
}

/// A directory given as a file source fails to start with its path in the error.
#[tokio::test]
async fn a_directory_as_a_file_source_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!("[sources.in]\ntype = \"file\"\npath = \"{}\"\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n", dir.path().display());
    let error = pipeline(&toml).start().await.expect_err("a directory is not a file").to_string();
    assert!(error.contains(&format!("cannot read {}: it is a directory", dir.path().display())), "{error}");
}

/// Every source and sink type, and every block the connectors crate registers (the `http`
/// block), has a section in docs/connectors.md with an example of its own, and every `toml`
/// example there is a complete pipeline that validates without warnings.
#[test]
fn docs_connectors_md_covers_every_connector_and_its_examples_validate() {
    let (text, examples) = validate_doc_examples("docs/connectors.md");
    let headings: Vec<String> = runnel_connectors::registry()
        .entries()
        .map(|e| match e.role {
            Role::Source => format!("## `{}` source", e.type_name),
            Role::Sink => format!("## `{}` sink", e.type_name),
            Role::Transform => format!("## `{}` block", e.type_name),
        })
        .collect();
    for heading in &headings {
        let Some((_, section)) = text.split_once(&format!("\n{heading}\n")) else { panic!("docs/connectors.md has no section `{heading}`") };
        let section = section.split("\n## ").next().unwrap_or_default();
        assert!(section.contains("```toml\n"), "`{heading}` in docs/connectors.md has no example");
    }
    assert!(examples >= headings.len(), "{examples} examples for {} connectors", headings.len());
}
