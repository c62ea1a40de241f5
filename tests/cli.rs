//! The real binary: `validate`, `graph`, `run` with its summary, and SIGTERM draining everything.

use std::process::{Command, Stdio};

use crate::support::{free_addr, root, runnel_bin, wait_for};

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
