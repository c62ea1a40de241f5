//! The seed flow, `pipelines/chat-ingest.toml`, end to end: chat messages put with boto3 into
//! runnel's `chat` stream, consumed in micro-batches by a Lambda-style handler that counts
//! messages per room in tumbling windows; every message stored, the counts of each closed
//! window written, and the records the handler cannot read set aside as on-failure records.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::boto::Boto;
use crate::support::{free_addr, root, wait_until};

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).expect("JSON lines"))
        .collect()
}

#[tokio::test]
async fn chat_messages_are_stored_counted_per_room_and_window_and_poison_is_set_aside() {
    if super::boto::python().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let file = root().join("pipelines/chat-ingest.toml");
    let text = std::fs::read_to_string(&file).expect("the pipeline file");
    let folder = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let env = move |name: &str| -> Option<String> {
        match name {
            "CHAT_INGEST_ADDRESS" => Some(addr.to_string()),
            "CHAT_INGEST_DIR" => Some(folder.clone()),
            // Short windows, so that some close while the test runs.
            "CHAT_INGEST_WINDOW" => Some("2s".into()),
            _ => None,
        }
    };
    let running = runnel::Pipeline::parse(&text, Some(file), &runnel::registry(), env).expect("valid").start().await.expect("starts");
    let mut boto = Boto::start(&format!("http://{addr}")).await.expect("boto3");

    // 300 messages in three rooms, in three PutRecords calls, and two records that are not JSON.
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for call in 0..3 {
        let mut records: Vec<(String, String)> = (0..100)
            .map(|i| {
                let n = call * 100 + i;
                let room = format!("room-{}", n % 3);
                *sent.entry(room.clone()).or_default() += 1;
                (room.clone(), json!({"room": room, "user": format!("user-{}", n % 7), "text": format!("message {n}")}).to_string())
            })
            .collect();
        if call == 1 {
            records.push(("room-1".into(), "not json".into()));
            records.push(("room-2".into(), "{\"cut".into()));
        }
        boto.put("chat", &records).await;
    }

    let messages = dir.path().join("messages.ndjson");
    let poison = dir.path().join("poison.ndjson");
    let rooms = dir.path().join("rooms.ndjson");
    wait_until("every message stored", 60, || (lines(&messages).len() >= 300).then_some(())).await;
    wait_until("both poison records set aside", 60, || (lines(&poison).len() >= 2).then_some(())).await;
    // Every window that held a message is closed 2 s after it ends: the counts add up.
    let counted = |windows: &[Value]| {
        let mut counted: BTreeMap<String, u64> = BTreeMap::new();
        for window in windows {
            for (room, count) in window["rooms"].as_object().expect("rooms") {
                *counted.entry(room.clone()).or_default() += count.as_u64().expect("a count");
            }
        }
        counted
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let windows = loop {
        let windows = lines(&rooms);
        if counted(&windows) == sent {
            break windows;
        }
        // On a timeout, what was counted says whether a window stayed open or counted twice.
        assert!(
            tokio::time::Instant::now() < deadline,
            "the windows' counts {:?} never added up to what was sent {sent:?}; windows: {windows:?}",
            counted(&windows)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    running.shutdown_token().cancel();
    running.wait().await.expect("stops cleanly");

    let stored = lines(&messages);
    assert_eq!(stored.len(), 300, "each message once");
    let mut texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().expect("text")).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 300);
    for window in &windows {
        assert!(window["window"]["start"].is_string() && window["window"]["end"].is_string(), "{window}");
        assert!(window["shard"].as_str().is_some_and(|s| s.starts_with("shardId-")), "{window}");
    }
    let set_aside = lines(&poison);
    assert_eq!(set_aside.len(), 2, "each poison record alone, after bisection: {set_aside:?}");
    let mut payloads: Vec<String> = set_aside
        .iter()
        .map(|failure| {
            assert_eq!(failure["requestContext"]["condition"], "RetryAttemptsExhausted", "{failure}");
            assert!(
                failure["requestContext"]["approximateInvokeCount"].as_u64().is_some_and(|n| n >= 3),
                "at least the first attempt and 2 retries: {failure}"
            );
            assert_eq!(failure["KinesisBatchInfo"]["batchSize"], 1, "{failure}");
            let data = failure["payload"][0]["kinesis"]["data"].as_str().expect("the record's data");
            String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).expect("base64")).expect("text")
        })
        .collect();
    payloads.sort();
    assert_eq!(payloads, ["not json", "{\"cut"]);
}
