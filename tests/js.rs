//! JavaScript handlers in pipelines run by the real binary: a PubNub on-interval function behind
//! the `timer` source, keeping a count in the kvstore across restarts (one worker: with two, the
//! ticks' increments could run in either order, though their results keep the ticks' order).

use std::process::Command;

use serde_json::{Value, json};

use crate::support::runnel_bin;

#[test]
fn an_on_interval_function_counts_its_runs_in_the_kvstore_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("every.toml");
    let out = dir.path().join("out.ndjson");
    let toml = format!(
        r#"[sources.every]
type = "timer"
interval = "20ms"
count = 3
immediately = true
payload = {{ job = "report" }}

[blocks.report]
type = "function"
inputs = ["every"]
shape = "on_interval"
workers = 1
code = '''
import kvstore from "kvstore";
export default async (event) => {{
  const runs = await kvstore.incrCounter("runs");
  return event.ok({{ tick: event.message.tick, job: event.message.payload.job, runs }});
}};
'''

[sinks.out]
type = "file"
inputs = ["report"]
path = "{}"
"#,
        out.display()
    );
    std::fs::write(&file, toml).expect("writes");
    for run in 0..2_u64 {
        let done = Command::new(runnel_bin()).args(["run", "--no-metrics", file.to_str().expect("utf-8")]).output().expect("runs");
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        let lines: Vec<Value> =
            std::fs::read_to_string(&out).expect("written").lines().map(|line| serde_json::from_str(line).expect("json")).collect();
        let expected: Vec<Value> =
            (0..=run).flat_map(|r| (0..3_u64).map(move |tick| json!({"tick": tick, "job": "report", "runs": r * 3 + tick + 1}))).collect();
        assert_eq!(lines, expected, "run {run}");
    }
    assert!(dir.path().join(".runnel/every/kvstore.sqlite").exists(), "the store is in the pipeline's state folder");
}

#[test]
fn runnel_validate_locates_a_syntax_error_in_a_handler_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("handlers")).expect("a folder");
    std::fs::write(dir.path().join("handlers/tag.js"), "export default (event) => {\n  return { ...event, tag: };\n};\n").expect("writes");
    let pipeline = "[sources.in]\ntype = \"stdin\"\n\n[blocks.tag]\ntype = \"function\"\ninputs = [\"in\"]\nfile = \"handlers/tag.js\"\n\n[blocks.missing]\ntype = \"function\"\ninputs = [\"in\"]\nfile = \"handlers/gone.js\"\n\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"tag\", \"missing\"]\n";
    let stderr = refused_by_validate(&dir.path().join("tagged.toml"), pipeline);
    let handler = dir.path().join("handlers/tag.js");
    let syntax = stderr.lines().find(|line| line.contains("node `tag`")).unwrap_or_else(|| panic!("no error for `tag`: {stderr}"));
    assert!(syntax.contains("tagged.toml:7:8: error:"), "at the `file` field: {syntax}");
    assert!(syntax.contains("SyntaxError") && stderr.contains(&format!("{}:2:", handler.display())), "the handler's line: {stderr}");
    let missing = stderr.lines().find(|line| line.contains("node `missing`")).unwrap_or_else(|| panic!("no error for `missing`: {stderr}"));
    assert!(missing.contains("tagged.toml:12:8: error:") && missing.contains("cannot read") && missing.contains("gone.js"), "{missing}");
}

#[test]
fn runnel_validate_locates_a_syntax_error_in_a_lambda_handler_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.mjs"), "export const handler = async (event) => {\n  return event.Records.map(;\n};\n").expect("writes");
    let pipeline = "[sources.in]\ntype = \"stdin\"\n\n[blocks.fn]\ntype = \"lambda\"\ninputs = [\"in\"]\nhandler = { type = \"function\", file = \"index.mjs\" }\n\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"fn\"]\n";
    let stderr = refused_by_validate(&dir.path().join("ingest.toml"), pipeline);
    assert!(stderr.contains("ingest.toml:7:11: error: node `fn`: `handler.file` does not compile: SyntaxError"), "{stderr}");
    assert!(stderr.contains(&format!("{}:2:", dir.path().join("index.mjs").display())), "the handler's line: {stderr}");
}

/// Writes `pipeline` to `file`, runs `runnel validate` on it, checks that it is refused, and
/// returns what it printed.
fn refused_by_validate(file: &std::path::Path, pipeline: &str) -> String {
    std::fs::write(file, pipeline).expect("writes");
    let output = Command::new(runnel_bin()).args(["validate", file.to_str().expect("UTF-8")]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}
