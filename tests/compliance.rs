//! Every built-in block, configured as its registered example, run through the harness: it
//! handles every message (each acknowledged as delivered or dropped, none lost), is counted in
//! the metrics, and finishes when its input ends. Examples that call out (the `http` block) name
//! `https://api.example.com`, which does not exist here: they are pointed at a local server that
//! answers every request 200 with JSON (the `http` tests' scripted peer); examples that keep files
//! keep them in a temporary folder.

use runnel::PipelineBuilder;
use runnel_connectors::{MemorySinkConfig, MemorySourceConfig};
use runnel_engine::{AckStatus, Role};
use serde_json::json;

#[tokio::test]
async fn every_block_handles_every_message_and_finishes() {
    let registry = runnel::registry();
    let blocks: Vec<_> = registry.entries().filter(|e| e.role == Role::Transform).collect();
    assert!(blocks.len() >= 8);
    let peer = crate::http::peer::Peer::start().await;
    // Examples that keep files (a database, a folder of objects) keep them here.
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in blocks {
        let example = entry
            .example
            .replace("https://api.example.com", &format!("http://{}", peer.addr))
            .replace("sqlite:media.db", &format!("sqlite:{}", dir.path().join("media.db").display()))
            .replace("dir = \"media\"", &format!("dir = \"{}\"", dir.path().join("media").display()));
        let config = entry.parse(toml::from_str(&example).expect("TOML")).expect("example parses");
        let ports = config.outputs();
        let (source, input) = MemorySourceConfig::channel();
        let mut builder = PipelineBuilder::new().source("in", source).block("block", ["in"], config);
        let mut outputs = Vec::new();
        for port in ports.iter().chain(["errors".to_owned()].iter()) {
            let (sink, output) = MemorySinkConfig::channel();
            builder = builder.sink(&format!("sink-{port}"), [format!("block.{port}")], sink);
            outputs.push(output);
        }
        let running = builder.build().expect("valid").start().await.expect("starts");
        let metrics = running.metrics().clone();
        let count = 50;
        for i in 0..count {
            let message = json!({
                "kind": if i % 5 == 0 { "join" } else { "chat" }, "text": "hello there", "ts": 1000 * i, "room": format!("r{}", i % 3),
                "user": format!("u{}", i % 4), "id": i % 7, "priority": i % 10, "len": 11,
                "items": [{ "id": i, "cents": 250 }], "records": [{ "x": i }],
            });
            input.send(message).await.expect("accepted");
        }
        let mut acks = input.close();
        let drains = outputs.into_iter().map(|o| tokio::spawn(o.collect()));
        let finished = tokio::time::timeout(std::time::Duration::from_secs(10), running.wait()).await;
        assert!(matches!(finished, Ok(Ok(()))), "`{}` did not finish cleanly: {finished:?}", entry.type_name);
        for drain in drains {
            drain.await.expect("sink drained");
        }
        let mut statuses = Vec::new();
        while let Some(ack) = acks.recv().await {
            statuses.push(ack.status);
        }
        assert_eq!(statuses.len(), count as usize, "`{}`: every message acknowledged", entry.type_name);
        assert!(statuses.iter().all(|s| matches!(s, AckStatus::Delivered | AckStatus::Dropped)), "`{}`: {statuses:?}", entry.type_name);
        assert_eq!(metrics.received_total("block"), count, "`{}` counted its input", entry.type_name);
    }
}
