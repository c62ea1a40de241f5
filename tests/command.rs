//! The `command` block with real programs (`sh`, `printf`, `cat`, `sleep`, `yes`): results from
//! standard output, arguments that stay arguments whatever a field holds, failures with the
//! program's standard error, timeouts, and order under concurrency.

use serde_json::{Value, json};

use crate::support::pipeline;

/// Runs the messages through a `command` block configured by `block` (TOML lines) and returns
/// what reached `out` and the error records of the block's `errors` port.
async fn run(messages: &[Value], block: &str) -> (Vec<Value>, Vec<Value>) {
    let inline: Vec<String> = messages.iter().map(toml_inline).collect();
    let toml = format!(
        "[sources.in]\ntype = \"memory\"\nmessages = [{}]\n\
         [blocks.job]\ntype = \"command\"\ninputs = [\"in\"]\n{block}\n\
         [sinks.out]\ntype = \"memory\"\ninputs = [\"job\"]\n\
         [sinks.failed]\ntype = \"memory\"\ninputs = [\"job.errors\"]\n",
        inline.join(", ")
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let out = runnel::take_output(running.resources(), "out").expect("out");
    let failed = runnel::take_output(running.resources(), "failed").expect("failed");
    let (values, errors, result) = tokio::join!(out.collect_values(), failed.collect_values(), running.wait());
    result.expect("runs");
    (values, errors)
}

/// A JSON object as a TOML inline table (strings, numbers and booleans only).
fn toml_inline(value: &Value) -> String {
    let fields: Vec<String> = value
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| format!("{k} = {}", if let Value::String(s) = v { toml::Value::String(s.clone()).to_string() } else { v.to_string() }))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

#[tokio::test]
async fn arguments_are_whole_values_and_never_reach_a_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = ["ann", "; rm -rf / #", "$(touch pwned)", "`touch pwned`", "a b\nc", "{x}"];
    let messages: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    // No shell: printf gets the value as one argument.
    let (values, errors) = run(
        &messages,
        &format!("program = \"printf\"\nargs = [\"%s\", \"{{name}}\"]\noutput = \"text\"\nworking_dir = \"{}\"", dir.path().display()),
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    let results: Vec<&str> = values.iter().map(|v| v["result"].as_str().expect("text")).collect();
    assert_eq!(results, ["ann", "; rm -rf / #", "$(touch pwned)", "`touch pwned`", "a b\nc", "{x}"]);
    // With a shell, the values are the script's positional parameters, not its text.
    let script = r#"printf '{"arg": "%s", "stdin": %s}' "$(printf %s "$1" | tr -d '\n' | sed 's/"/\\"/g')" "$(cat)""#;
    let (values, errors) =
        run(&messages, &format!("program = '''{script}'''\nshell = true\nargs = [\"{{name}}\"]\nworking_dir = \"{}\"", dir.path().display())).await;
    assert!(errors.is_empty(), "{errors:?}");
    for (value, name) in values.iter().zip(names) {
        assert_eq!(value["result"]["arg"], name.replace('\n', ""), "{value}");
        assert_eq!(value["result"]["stdin"], json!({"name": name}), "the message on standard input");
    }
    assert!(!dir.path().join("pwned").exists(), "nothing a field held was run");
}

#[tokio::test]
async fn standard_input_is_the_message_a_field_or_nothing_and_output_formats_parse() {
    let message = json!({"video": "clips/cat.mp4", "n": 2});
    let (values, _) = run(std::slice::from_ref(&message), "program = \"cat\"\nstdin = \".video\"\noutput = \"text\"\nresult_at = \"got\"").await;
    assert_eq!(values[0]["got"], "clips/cat.mp4", "a string field as its text");
    let (values, _) = run(std::slice::from_ref(&message), "program = \"cat\"\nstdin = \"{n: .n}\"\nresult_at = \"a.b\"").await;
    assert_eq!(values[0]["a"]["b"], json!({"n": 2}), "another value as JSON, set at a nested path");
    let (values, _) = run(std::slice::from_ref(&message), "program = \"cat\"\nstdin = false\noutput = \"text\"").await;
    assert_eq!(values[0]["result"], "", "no standard input");
    let (values, _) = run(
        std::slice::from_ref(&message),
        "program = '''printf '{\"a\":1}\\n\\n{\"a\":2}\\n' '''\nshell = true\nstdin = false\noutput = \"ndjson\"",
    )
    .await;
    assert_eq!(values[0]["result"], json!([{"a": 1}, {"a": 2}]));
    let (values, _) = run(std::slice::from_ref(&message), "program = \"true\"\noutput = \"ignore\"").await;
    assert_eq!(values, [message], "passed on unchanged");
}

#[tokio::test]
async fn failures_carry_the_exit_status_and_standard_error_and_the_rest_goes_on() {
    let messages = [json!({"n": 1}), json!({"n": 2}), json!({"n": 3})];
    let script = r#"if [ "$1" = 2 ]; then echo "cannot read input 2" >&2; exit 3; fi; echo '{"ok": true}'"#;
    let (values, errors) = run(&messages, &format!("program = '''{script}'''\nshell = true\nargs = [\"{{n}}\"]")).await;
    assert_eq!(values.iter().map(|v| v["n"].clone()).collect::<Vec<_>>(), [json!(1), json!(3)]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains("exited with status 3") && error.contains("cannot read input 2"), "{error}");
    assert_eq!(errors[0]["node"], "job");

    let (_, errors) = run(&messages[..1], "program = \"printf\"\nargs = [\"not json\"]").await;
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains("`printf`: its output is not one JSON document"), "{error}");

    let (_, errors) = run(&messages[..1], "program = \"no-such-program-runnel\"").await;
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains("`no-such-program-runnel`: cannot start it"), "{error}");

    let (_, errors) = run(&messages[..1], "program = \"printf\"\nargs = [\"{missing}\"]").await;
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains("`args[0]`: the field `missing` is missing or null"), "{error}");
}

#[tokio::test]
async fn a_program_past_its_timeout_or_output_limit_is_killed() {
    let (values, errors) = run(&[json!({"n": 1})], "program = \"sleep\"\nargs = [\"30\"]\ntimeout = \"300ms\"").await;
    assert!(values.is_empty());
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains("killed after running 300 ms, its timeout"), "{error}");

    let (_, errors) = run(&[json!({"n": 1})], "program = \"yes\"\nstdin = false\nmax_output_bytes = 1000").await;
    let error = errors[0]["error"].as_str().expect("text");
    assert!(error.contains("passed `max_output_bytes` (1000 bytes)"), "{error}");
}

#[tokio::test]
async fn concurrent_runs_keep_input_order_unless_told_otherwise() {
    let delays = ["0.4", "0.1", "0.3", "0"];
    let messages: Vec<Value> = delays.iter().map(|d| json!({"delay": d})).collect();
    let block = "program = 'sleep \"$1\"; echo \"\\\"$1\\\"\"'\nshell = true\nargs = [\"{delay}\"]\nconcurrency = 4\nstdin = false";
    let (values, errors) = run(&messages, block).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(values.iter().map(|v| v["result"].clone()).collect::<Vec<_>>(), delays.map(Value::from), "input order");
    let (values, _) = run(&messages, &format!("{block}\nordered = false")).await;
    assert_eq!(values.len(), 4);
    assert_eq!(values[0]["result"], "0", "the quickest first");
}

#[test]
fn bad_configurations_are_located_errors() {
    let error = runnel::Pipeline::parse(
        "[sources.in]\ntype = \"memory\"\n[blocks.job]\ntype = \"command\"\ninputs = [\"in\"]\nprogram = \"x\"\nargs = [\"{open\"]\n[sinks.out]\ntype = \"memory\"\ninputs = [\"job\"]\n",
        None,
        &runnel::registry(),
        |_| None,
    )
    .expect_err("invalid")
    .to_string();
    assert!(error.contains("7:") && error.contains("`{` without `}`"), "{error}");
    let error = runnel::Pipeline::parse(
        "[sources.in]\ntype = \"memory\"\n[blocks.job]\ntype = \"command\"\ninputs = [\"in\"]\nprogram = \"x\"\nconcurrency = 0\n[sinks.out]\ntype = \"memory\"\ninputs = [\"job\"]\n",
        None,
        &runnel::registry(),
        |_| None,
    )
    .expect_err("invalid")
    .to_string();
    assert!(error.contains("node `job`") && error.contains("`concurrency` must be between 1 and 10000"), "{error}");
}

/// A job still running when `runnel run` stops past its shutdown timeout is killed with it, not
/// left behind: the program's process is gone (or a zombie awaiting its reaper) once runnel
/// has exited.
#[test]
fn a_job_running_when_runnel_stops_is_killed_with_it() {
    use std::process::{Command, Stdio};

    use crate::support::{runnel_bin, wait_for};

    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("job.pid");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[sources.in]\ntype = \"generator\"\ncount = 1\n\
             [blocks.job]\ntype = \"command\"\ninputs = [\"in\"]\nprogram = 'echo $$$$ > \"$1\"; exec sleep 60'\nshell = true\nargs = ['{}']\nstdin = false\noutput = \"ignore\"\n\
             [sinks.out]\ntype = \"file\"\ninputs = [\"job\"]\npath = \"{}\"\n",
            pid_file.display(),
            dir.path().join("out.ndjson").display()
        ),
    )
    .expect("writes");
    let mut child = Command::new(runnel_bin())
        .args(["run", "--no-metrics", "--shutdown-timeout", "1s", file.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let pid: u32 = wait_for("the job to start", 30, || std::fs::read_to_string(&pid_file).ok().and_then(|text| text.trim().parse().ok()));
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z')))
    };
    assert!(alive(pid), "the job runs");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs").success());
    let exited = wait_for("runnel to exit", 30, || child.try_wait().expect("waits"));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).expect("reads");
    assert_eq!(exited.code(), Some(2), "stopped at its shutdown timeout: {stderr}");
    wait_for("the job to be killed", 10, || (!alive(pid)).then_some(()));
}
