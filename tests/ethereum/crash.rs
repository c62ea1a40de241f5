//! SIGKILL while logs keep coming: the `runnel` binary is killed three times mid-stream and
//! started again; in the end every log the contract emitted is in the output, at least once.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::node::{Node, word};
use crate::support::{Killed, runnel_bin};

/// The values in the output file, each with how many times it is there (a line cut by the kill
/// is left out: the file sink ends it, and it holds no whole record).
fn written(path: &std::path::Path) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let Ok(value) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(n) = value["args"]["value"].as_str().and_then(|v| v.parse().ok()) {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test]
async fn killed_three_times_mid_stream_nothing_is_missing() {
    for node in Node::all().await {
        let node = Arc::new(node);
        let topic = node.keccak(super::NOTE).await;
        let contract = node.deploy_logger(&topic).await;
        let dir = tempfile::tempdir().expect("a folder");
        std::fs::write(dir.path().join("note.abi.json"), super::ABI).expect("writes");
        let out = dir.path().join("out.ndjson");
        let pipeline = dir.path().join("p.toml");
        std::fs::write(
            &pipeline,
            format!(
                "[sources.chain]\ntype = \"ethereum\"\nurl = \"{}\"\naddress = \"{contract}\"\nabi = \"note.abi.json\"\nfrom_block = {}\nreconnect = {{ initial_ms = 50, max_ms = 200 }}\n\n[sinks.out]\ntype = \"file\"\ninputs = [\"chain\"]\npath = \"{}\"\n",
                node.ws(),
                super::node::quantity(&node.call("eth_blockNumber", serde_json::json!([])).await),
                out.display()
            ),
        )
        .expect("writes the pipeline");
        // Logs keep coming for the whole test, numbered from 0.
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (node, contract, sent, stop) = (node.clone(), contract.clone(), sent.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let n = sent.load(Ordering::SeqCst);
                    node.send(Some(&contract), &word(n)).await;
                    sent.store(n + 1, Ordering::SeqCst);
                }
            })
        };
        let run = || {
            Killed(
                Command::new(runnel_bin())
                    .args(["run", pipeline.to_str().expect("utf-8")])
                    .env("RUNNEL_LOG", "warn")
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("starts"),
            )
        };
        for kill in 0..3 {
            let child = run();
            let before = written(&out).len();
            // Killed once it has written more than before: mid-stream.
            let grown = tokio::time::timeout(Duration::from_secs(60), async {
                while written(&out).len() < before + 5 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            grown.await.unwrap_or_else(|_| panic!("{}: run {kill} wrote nothing new", node.name));
            drop(child); // SIGKILL
        }
        stop.store(true, Ordering::SeqCst);
        sender.await.expect("the sender");
        let total = sent.load(Ordering::SeqCst);
        let mut last = run();
        let complete = tokio::time::timeout(Duration::from_secs(60), async {
            while written(&out).len() < total as usize {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let outcome = complete.await;
        let _ = Command::new("kill").args(["-TERM", &last.0.id().to_string()]).status();
        let _ = last.0.wait();
        let counts = written(&out);
        let missing: Vec<u64> = (0..total).filter(|n| !counts.contains_key(n)).collect();
        let duplicates: usize = counts.values().map(|c| c - 1).sum();
        eprintln!("{}: {total} logs sent over 3 kills; {} written, {duplicates} duplicates, {} missing", node.name, counts.len(), missing.len());
        assert!(outcome.is_ok() && missing.is_empty(), "{}: missing {missing:?}", node.name);
    }
}
