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
