//! The real binary: `validate`, `graph`, `run` with its summary, and SIGTERM draining everything.

use std::process::{Command, Stdio};

use crate::support::{free_addr, refusing_addr, root, runnel_bin, wait_for};

fn runnel(args: &[&str]) -> std::process::Output {
    Command::new(runnel_bin()).args(args).env("RUNNEL_LOG", "warn").output().expect("runs")
}

#[test]
fn validate_exits_0_for_a_good_file_and_78_listing_every_error() {
    let good = runnel(&["validate", root().join("pipelines/quickstart.toml").to_str().expect("utf-8")]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("valid (4 nodes, 3 edges)"));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[sources.a]\ntype = \"nope\"\n\n[sinks.b]\ntype = \"stdout\"\ninputs = [\"c\"]\n").expect("writes");
    let out = runnel(&["validate", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:2:8: error: node `a`: unknown source type `nope`"), "{stderr}");
    assert!(stderr.contains("bad.toml:6:11: error: node `b`: unknown input `c`"), "{stderr}");
}

#[test]
fn run_refuses_an_absurd_thread_count_before_starting() {
    let file = root().join("pipelines/quickstart.toml");
    let out = runnel(&["run", "--threads", "100000", "--no-metrics", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid value '100000' for '--threads <THREADS>': 100000 worker threads: give 1 to 1024"), "{stderr}");
    let zero = runnel(&["run", "--threads", "0", "--no-metrics", file.to_str().expect("utf-8")]);
    assert_eq!(zero.status.code(), Some(2), "{}", String::from_utf8_lossy(&zero.stderr));
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let file = root().join("pipelines/quickstart.toml");
    let dot = runnel(&["graph", file.to_str().expect("utf-8")]);
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph pipeline {"), "{dot}");
    assert!(dot.contains("\"chat\" -> \"chatter\";"), "{dot}");
    let mermaid = runnel(&["graph", "--format", "mermaid", file.to_str().expect("utf-8")]);
    let mermaid = String::from_utf8_lossy(&mermaid.stdout);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("chatter --> shape"), "{mermaid}");
}

#[test]
fn run_executes_the_quickstart_and_prints_a_summary() {
    let out = Command::new(runnel_bin())
        .args(["run", "--no-metrics", root().join("pipelines/quickstart.toml").to_str().expect("utf-8")])
        .env("QUICKSTART_RATE", "100000")
        .env("QUICKSTART_COUNT", "500")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    assert!(lines.len() > 300 && lines.len() < 500, "{} chat messages of 500", lines.len());
    assert!(lines.iter().all(|l| l["len"].as_u64() == l["text"].as_str().map(|t| t.chars().count() as u64)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("runnel: 500 messages in, {} out, 0 errors", lines.len())), "{stderr}");
}

#[test]
fn sigterm_drains_everything_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[sources.gen]\ntype = \"generator\"\nrate = 20000.0\n[blocks.pass]\ntype = \"map\"\ninputs = [\"gen\"]\nprogram = \".\"\n[sinks.f]\ntype = \"file\"\ninputs = [\"pass\"]\npath = \"{}\"\n",
            out.display()
        ),
    )
    .expect("writes");
    let addr = free_addr();
    let child = Command::new(runnel_bin())
        .args(["run", "--metrics-addr", &addr.to_string(), file.to_str().expect("utf-8")])
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    wait_for("the pipeline to be ready", 30, || crate::support::http_get(addr, "/ready").filter(|(s, _)| *s == 200));
    wait_for("output to be written", 30, || std::fs::metadata(&out).ok().filter(|m| m.len() > 100_000));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let done = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "exit {:?}: {stderr}", done.status);
    let text = std::fs::read_to_string(&out).expect("reads");
    let ids: Vec<u64> =
        text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).expect("whole JSON lines")["id"].as_u64().expect("id")).collect();
    assert!(ids.iter().enumerate().all(|(i, id)| i as u64 == *id), "ids must be 0..n with no gap");
    let summary = format!("runnel: {} messages in, {} out, 0 errors", ids.len(), ids.len());
    assert!(stderr.contains(&summary), "expected {summary:?} in {stderr}");
}

/// `tail -f log | runnel run`: a `stdin` source whose pipe is open but quiet still stops on
/// SIGTERM, and the process exits.
#[test]
fn sigterm_stops_a_stdin_source_whose_pipe_stays_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let file = dir.path().join("p.toml");
    let toml = format!("[sources.in]\ntype = \"stdin\"\n[sinks.f]\ntype = \"file\"\ninputs = [\"in\"]\npath = \"{}\"\n", out.display());
    std::fs::write(&file, toml).expect("writes");
    let addr = free_addr();
    let mut child = Command::new(runnel_bin())
        .args(["run", "--metrics-addr", &addr.to_string(), file.to_str().expect("utf-8")])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("piped");
    std::io::Write::write_all(&mut stdin, b"{\"n\":1}\n").expect("writes a line");
    wait_for("the line to be written", 30, || std::fs::read_to_string(&out).ok().filter(|t| t.contains("\"n\":1")));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    // The pipe stays open (and quiet) until the process has exited.
    let exited = wait_for("the process to exit", 20, || child.try_wait().expect("waits"));
    drop(stdin);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).expect("reads");
    assert!(exited.success(), "exit {exited:?}: {stderr}");
    assert!(stderr.contains("1 messages in, 1 out"), "{stderr}");
}

/// A node that never yields (here a jq program that never ends, given an hour of time budget)
/// holds its node; the shutdown deadline still ends the process, with exit code 2 and the stuck
/// nodes named.
#[test]
fn the_shutdown_deadline_ends_a_process_whose_node_never_yields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    let toml = "[sources.gen]\ntype = \"generator\"\ncount = 1\n[blocks.spin]\ntype = \"map\"\ninputs = [\"gen\"]\nprogram = { source = 'until(false; .)', timeout_ms = 3600000 }\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"spin\"]\n";
    std::fs::write(&file, toml).expect("writes");
    let addr = free_addr();
    let mut child = Command::new(runnel_bin())
        .args(["run", "--shutdown-timeout", "1s", "--metrics-addr", &addr.to_string(), file.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    wait_for("the pipeline to be ready", 30, || crate::support::http_get(addr, "/ready").filter(|(s, _)| *s == 200));
    wait_for("the message to be read", 30, || {
        crate::support::http_get(addr, "/metrics").filter(|(_, text)| text.contains("runnel_node_received_messages_total{node=\"spin\"} 1"))
    });
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exited = wait_for("the process to exit", 20, || child.try_wait().expect("waits"));
    if exited.code().is_none() {
        let _ = child.kill();
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).expect("reads");
    assert_eq!(exited.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shutdown timed out after 1s; still running:") && stderr.contains("spin"), "{stderr}");
}

/// jq programs that loop forever, grow without bound or recurse without end fail their message
/// at their budget (counted as errors, sent to the errors port); the other messages go on.
#[test]
fn a_jq_program_past_its_budget_fails_its_message_not_the_pipeline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    let out = dir.path().join("out.ndjson");
    let errors = dir.path().join("errors.ndjson");
    let program = r#"if .id == 1 then until(false; .) elif .id == 2 then [range(1e10)] elif .id == 3 then (def f: [f]; f) elif .id == 4 then (def f(g): f([g]); f(.)) else . end"#;
    let toml = format!(
        "[sources.gen]\ntype = \"generator\"\ncount = 6\n[blocks.risky]\ntype = \"map\"\ninputs = [\"gen\"]\nprogram = {{ source = '{program}', timeout_ms = 2000, max_memory_mb = 4 }}\n[sinks.out]\ntype = \"file\"\ninputs = [\"risky\"]\npath = \"{}\"\n[sinks.dead]\ntype = \"file\"\ninputs = [\"risky.errors\"]\npath = \"{}\"\n",
        out.display(),
        errors.display()
    );
    std::fs::write(&file, toml).expect("writes");
    let done = Command::new(runnel_bin()).args(["run", "--no-metrics", file.to_str().expect("utf-8")]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{:?}: {stderr}", done.status);
    assert!(stderr.contains("6 messages in, 6 out, 4 errors"), "{stderr}"); // 2 results and 4 dead letters
    let ids: Vec<u64> = std::fs::read_to_string(&out)
        .expect("written")
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json")["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [0, 5]);
    let dead = std::fs::read_to_string(&errors).expect("written");
    for reason in ["time budget of 2000 ms", "memory budget of 4 MiB", "recursed deeper than the stack allows"] {
        assert!(dead.contains(reason), "{reason} in {dead}");
    }
}

/// Numbers a 64-bit float does not hold (big integers, long decimals, exponents out of range)
/// come out as they came in: through a filter untouched, and through a map that changes other
/// fields or copies them; arithmetic works on the float, as in jq.
#[test]
fn numbers_pass_through_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    let input = dir.path().join("in.ndjson");
    let kept = dir.path().join("kept.ndjson");
    let mapped = dir.path().join("mapped.ndjson");
    std::fs::write(
        &input,
        "{\"id\":18446744073709551616,\"n\":123456789012345678901234567890,\"tiny\":1e-400,\"huge\":1e400,\"x\":0.1000000000000000055511151231257827}\n{\"id\":-99999999999999999999,\"n\":2}\n",
    )
    .expect("writes");
    let toml = format!(
        "[sources.in]\ntype = \"file\"\npath = \"{}\"\ncheckpoints = false\n[blocks.pass]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = '.id != null'\n[blocks.change]\ntype = \"map\"\ninputs = [\"in\"]\nprogram = '{{id, huge, seen: true, twice: (.n * 2)}}'\n[sinks.kept]\ntype = \"file\"\ninputs = [\"pass\"]\npath = \"{}\"\n[sinks.mapped]\ntype = \"file\"\ninputs = [\"change\"]\npath = \"{}\"\n",
        input.display(),
        kept.display(),
        mapped.display()
    );
    std::fs::write(&file, toml).expect("writes");
    let done = Command::new(runnel_bin()).args(["run", "--no-metrics", file.to_str().expect("utf-8")]).output().expect("runs");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(
        std::fs::read_to_string(&kept).expect("written"),
        "{\"id\":18446744073709551616,\"n\":123456789012345678901234567890,\"tiny\":1e-400,\"huge\":1e400,\"x\":0.1000000000000000055511151231257827}\n{\"id\":-99999999999999999999,\"n\":2}\n",
        "as they came, keys in their order too"
    );
    assert_eq!(
        std::fs::read_to_string(&mapped).expect("written"),
        "{\"id\":18446744073709551616,\"huge\":1e400,\"seen\":true,\"twice\":2.4691357802469136e+29}\n{\"id\":-99999999999999999999,\"huge\":null,\"seen\":true,\"twice\":4}\n"
    );
}

/// A `file` sink whose writes fail (a full disk: `/dev/full`) fails the run, names the sink and
/// the error, and acknowledges nothing: the source's checkpoint stays before the lines.
#[test]
fn a_file_sink_that_cannot_write_fails_and_keeps_the_lines_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.ndjson"), "{\"a\":1}\n{\"a\":2}\n").expect("writes");
    let file = dir.path().join("p.toml");
    let toml = "[sources.in]\ntype = \"file\"\npath = \"in.ndjson\"\n[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]\npath = \"/dev/full\"\nappend = false\n";
    std::fs::write(&file, toml).expect("writes");
    let done = runnel(&["run", "--no-metrics", file.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "{stderr}");
    assert!(stderr.contains("node `out` failed: No space left on device"), "{stderr}");
    let checkpoints = std::fs::read_to_string(dir.path().join(".runnel/p/in.checkpoints.json")).expect("a checkpoint file");
    let checkpoints: serde_json::Value = serde_json::from_str(&checkpoints).expect("JSON");
    assert_eq!(checkpoints["files"][0]["offset"], 0, "{checkpoints}");
}

/// Objects keep their keys in the order they arrived in, through jq's fast path and jaq, a
/// JavaScript function and the sinks, as jq keeps them: a key a program adds comes last, a
/// removed key leaves the others in place, and the program sees the keys in that order.
#[test]
fn objects_keep_their_keys_in_arrival_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, input, output) = (dir.path().join("p.toml"), dir.path().join("in.ndjson"), dir.path().join("out.ndjson"));
    std::fs::write(&input, "{\"z\":1,\"kind\":\"chat\",\"a\":{\"y\":2,\"b\":1,\"m\":0},\"text\":\"hi\"}\n{\"b\":2,\"a\":1}\n").expect("writes");
    let toml = format!(
        r#"[sources.in]
type = "file"
path = "{}"
checkpoints = false
[blocks.count]
type = "map"
inputs = ["in"]
program = '.len = (.text | length) | del(.kind)'
[blocks.upper]
type = "map"
inputs = ["count"]
program = '.a |= (if type == "object" then with_entries(.key |= ascii_upcase) | .M |= empty else . end)'
[blocks.keys]
type = "function"
inputs = ["upper"]
code = 'export default (m) => ({{ ...m, seen: Object.keys(m).join() }})'
[sinks.out]
type = "file"
inputs = ["keys"]
path = "{}"
"#,
        input.display(),
        output.display()
    );
    std::fs::write(&file, toml).expect("writes");
    let done = runnel(&["run", "--no-metrics", file.to_str().expect("utf-8")]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(
        std::fs::read_to_string(&output).expect("written"),
        concat!(
            "{\"z\":1,\"a\":{\"Y\":2,\"B\":1},\"text\":\"hi\",\"len\":2,\"seen\":\"z,a,text,len\"}\n",
            "{\"b\":2,\"a\":1,\"len\":0,\"seen\":\"b,a,len\"}\n"
        )
    );
}

/// `runnel run` refuses a `memory` sink, which only an embedding program can read (it would stall
/// the pipeline once full), before starting anything.
#[test]
fn run_refuses_a_memory_sink_nobody_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    std::fs::write(&file, "[sources.gen]\ntype = \"generator\"\ncount = 5000\n[sinks.mem]\ntype = \"memory\"\ninputs = [\"gen\"]\n").expect("writes");
    let out = runnel(&["run", "--no-metrics", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sink(s) `mem` of type `memory` can only be read by a program embedding runnel"), "{stderr}");
}

/// A SIGTERM that arrives while the pipeline is still starting (its `/health` answers as soon as
/// the process listens) stops it gracefully: exit 0 and the summary, not death by the signal.
#[test]
fn a_sigterm_while_the_pipeline_starts_stops_it_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    // Blocks that take a while to build widen the window between listening and running.
    let mut toml = String::from("[sources.gen]\ntype = \"generator\"\ncount = 100000000\n");
    for i in 0..20 {
        toml.push_str(&format!(
            "[blocks.f{i}]\ntype = \"function\"\ninputs = [\"gen\"]\ncode = \"export default (m) => m\"\n[sinks.s{i}]\ntype = \"stdout\"\ninputs = [\"f{i}\"]\n"
        ));
    }
    std::fs::write(&file, toml).expect("writes");
    let addr = free_addr();
    let mut child = Command::new(runnel_bin())
        .args(["run", "--metrics-addr", &addr.to_string(), file.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    wait_for("the process to listen", 30, || crate::support::http_get(addr, "/health"));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exited = wait_for("the process to exit", 30, || child.try_wait().expect("waits"));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).expect("reads");
    assert_eq!(exited.code(), Some(0), "{exited:?}: {stderr}");
    assert!(stderr.contains("messages in"), "{stderr}");
}

/// A WebSocket sink whose server is down does not hold SIGTERM until the shutdown deadline: what
/// it could not deliver fails (for its sources to replay) and the process ends.
#[test]
fn a_websocket_sink_with_its_server_down_stops_at_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    let (_bound, closed) = refusing_addr(); // bound, not listening: refused
    let toml = format!(
        "[sources.gen]\ntype = \"generator\"\ncount = 100000000\n[sinks.ws]\ntype = \"websocket\"\ninputs = [\"gen\"]\nurl = \"ws://{closed}/\"\n"
    );
    std::fs::write(&file, toml).expect("writes");
    let addr = free_addr();
    let mut child = Command::new(runnel_bin())
        .args(["run", "--shutdown-timeout", "120s", "--metrics-addr", &addr.to_string(), file.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    wait_for("the sink to be waiting for its server", 30, || {
        crate::support::http_get(addr, "/metrics").filter(|(_, text)| text.contains("runnel_node_received_messages_total{node=\"ws\"}"))
    });
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exited = wait_for("the process to exit well before the 120 s deadline", 30, || child.try_wait().expect("waits"));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).expect("reads");
    assert_eq!(exited.code(), Some(0), "{stderr}");
    assert!(stderr.contains("websocket server unreachable at shutdown"), "{stderr}");
}

/// A jq program that builds a value 100,000 levels deep fails its message (counted as an error)
/// instead of overflowing the stack and aborting the process. (A time budget of a minute: a
/// debug build on a busy machine may take more than the default second to build it.)
#[test]
fn a_value_nested_too_deep_fails_its_message_not_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    let out = dir.path().join("out.ndjson");
    let toml = format!(
        "[sources.gen]\ntype = \"generator\"\ncount = 2\n[blocks.deep]\ntype = \"map\"\ninputs = [\"gen\"]\nprogram = {{ source = 'if .id == 0 then reduce range(100000) as $i (.; {{a: .}}) else . end', timeout_ms = 60000 }}\n[sinks.out]\ntype = \"file\"\ninputs = [\"deep\"]\npath = \"{}\"\n",
        out.display()
    );
    std::fs::write(&file, toml).expect("writes");
    let done = Command::new(runnel_bin()).args(["run", "--no-metrics", file.to_str().expect("utf-8")]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{:?}: {stderr}", done.status);
    assert!(stderr.contains("nested deeper than 10000 levels") && stderr.contains("2 messages in, 1 out, 1 errors"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).expect("written").lines().count(), 1);
}

/// A Kafka source whose broker cannot be reached makes `/ready` answer 503 naming it, and
/// librdkafka's complaints about it are logged a few times, not many times a second.
#[test]
fn an_unreachable_kafka_broker_makes_the_pipeline_unready_and_is_logged_with_rate_limiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.toml");
    let (_bound, closed) = refusing_addr(); // bound, not listening: refused
    let toml = format!(
        "[sources.in]\ntype = \"kafka\"\nbrokers = \"{closed}\"\ntopics = [\"t\"]\ngroup_id = \"g\"\noptions = {{ \"reconnect.backoff.ms\" = 10, \"reconnect.backoff.max.ms\" = 50 }}\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"in\"]\n"
    );
    std::fs::write(&file, toml).expect("writes");
    let addr = free_addr();
    let child = Command::new(runnel_bin())
        .args(["run", "--metrics-addr", &addr.to_string(), file.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // While the pipeline starts, `/ready` is 503 for that reason; wait for the source's own.
    let (status, body) = wait_for("/ready to answer 503 naming the source", 30, || {
        crate::support::http_get(addr, "/ready").filter(|(s, body)| *s == 503 && body.contains(r#""unready":["in"]"#))
    });
    assert_eq!(status, 503);
    assert!(body.contains(r#""unready":["in"]"#), "{body}");
    // librdkafka retries every 10 to 50 ms: some 100 failed connections in the next 3 s.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let done = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&done.stderr);
    let complaints = stderr.lines().filter(|l| l.contains("librdkafka")).count();
    assert!((1..=4).contains(&complaints), "{complaints} librdkafka lines in about 4 s:\n{stderr}");
}

/// Runs `runnel jq` with `args`, `input` on its standard input.
fn runnel_jq(args: &[&str], input: &str) -> std::process::Output {
    let mut child =
        Command::new(runnel_bin()).arg("jq").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
    let mut stdin = child.stdin.take().expect("piped");
    std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("writes the input");
    drop(stdin);
    child.wait_with_output().expect("runs")
}

#[test]
fn jq_prints_each_output_on_a_line_as_the_blocks_compute_it() {
    // jq 1.8's semantics (the prelude, exact integers, numbers written back as they came), with
    // several outputs per line, none for some.
    let input = "{\"items\":[1,2],\"id\":18446744073709551616}\n{\"items\":[]}\n[4]\n";
    let out = runnel_jq(&["if type == \"array\" then .[2][1] = 1 else .items[] + 1, .id end"], input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n3\n18446744073709551616\nnull\n[4,null,[null,1]]\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("in [1].ndjson");
    std::fs::write(&file, "{\"a\":\"x,y\"}\n{\"a\":\"z\"}\n").expect("writes");
    let out = runnel_jq(&[".a | [splits(\",\")] | @csv", file.to_str().expect("utf-8")], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\"\\\"x\\\",\\\"y\\\"\"\n\"\\\"z\\\"\"\n");
}

#[test]
fn jq_names_the_line_of_each_failed_input_and_exits_5() {
    let out = runnel_jq(&[".n + 1"], "{\"n\":1}\n{\"n\":\"a\"}\nnot json\n{\"n\":2}\n");
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n3\n", "the other lines still run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("runnel jq: line 2: jq error: cannot calculate \"a\" + 1"), "{stderr}");
    assert!(stderr.contains("runnel jq: stdin:3: invalid JSON"), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");

    let out = runnel_jq(&["-.a"], "{\"a\":1}\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-1\n", "a program may start with `-`");

    let out = runnel_jq(&["--timeout-ms", "50", "last(repeat(1))"], "null\n");
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1: jq program ran longer than its time budget of 50 ms"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = runnel_jq(&[".a |"], "{}\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("jq syntax error at column 5"), "{}", String::from_utf8_lossy(&out.stderr));
}
