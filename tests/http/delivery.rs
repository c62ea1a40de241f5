//! What the `http` sink delivers, retries, fails and acknowledges.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use runnel::PipelineBuilder;
use runnel::RunningPipeline;
use runnel_connectors::http::HttpSinkConfig;
use runnel_connectors::{MemoryInput, MemoryOutput, MemorySinkConfig, MemorySourceConfig};
use runnel_engine::{Ack, AckStatus};
use serde_json::{Value, json};

use super::peer::Peer;

fn sink(toml: &str) -> HttpSinkConfig {
    toml::from_str(toml).expect("a valid http sink")
}

/// A pipeline `src` (memory) → `hook` (http) with `hook.errors` read by a memory sink when
/// `dead_letters`.
async fn start(config: HttpSinkConfig, dead_letters: bool) -> (RunningPipeline, MemoryInput, Option<MemoryOutput>) {
    let (source, input) = MemorySourceConfig::channel();
    let mut builder = PipelineBuilder::new().source("src", source).sink("hook", ["src"], config);
    let mut dead = None;
    if dead_letters {
        let (sink, out) = MemorySinkConfig::channel();
        builder = builder.sink("dead", ["hook.errors"], sink);
        dead = Some(out);
    }
    let running = builder.build().expect("valid").start().await.expect("starts");
    (running, input, dead)
}

/// The ids of the messages the peer answered 2xx, with when it answered.
fn delivered(peer: &Peer) -> HashMap<i64, Instant> {
    let mut ids = HashMap::new();
    for seen in peer.seen() {
        if seen.answered.is_some_and(|s| (200..300).contains(&s)) {
            for message in seen.messages() {
                ids.entry(message["id"].as_i64().expect("an id")).or_insert(seen.answered_at.expect("answered"));
            }
        }
    }
    ids
}

/// 500 twice, 429 with `Retry-After: 1`, a slow answer, a dropped connection: each message is
/// delivered once its turn comes; a 400 is not retried, and a 500 past the retries fails; both
/// reach the errors port with the status and the first 256 bytes of the answer. A message is
/// acknowledged as delivered only after the peer answered its request 2xx.
#[tokio::test]
async fn scripted_failures_are_retried_or_failed_and_only_2xx_is_acknowledged() {
    let peer = Peer::start().await;
    let config = sink(&format!(
        "url = \"http://{}/hook/{{id}}\"\nrequest = {{ timeout_ms = 500, retry_attempts = 3, retry_initial_backoff_ms = 20, retry_max_backoff_ms = 2000, concurrency = 4 }}",
        peer.addr
    ));
    let (running, input, dead) = start(config, true).await;
    let scripts: Vec<Value> = vec![
        json!(["500", "500"]),
        json!(["429"]),
        json!(["400"]),
        json!(["slow"]),
        json!(["drop"]),
        json!(["500", "500", "500", "500", "500"]),
        json!([]),
        json!([]),
    ];
    let mut ids = HashMap::new();
    for (n, script) in scripts.iter().enumerate() {
        let id = input.send(json!({"id": n, "script": script})).await.expect("accepted");
        ids.insert(id, n as i64);
    }
    let mut acks = input.close();
    let dead = dead.expect("dead letters");
    let (errors, done) = tokio::join!(dead.collect_values(), running.wait());
    done.expect("runs to the end");

    let answered = delivered(&peer);
    assert_eq!(answered.keys().copied().collect::<BTreeSet<_>>(), BTreeSet::from([0, 1, 3, 4, 6, 7]));
    let attempts = |id| peer.attempts(id).len();
    assert_eq!((attempts(0), attempts(1), attempts(3), attempts(4)), (3, 2, 2, 2));
    assert_eq!(attempts(2), 1, "no retry after a 400");
    assert_eq!(attempts(5), 4, "the first attempt and 3 retries");
    let throttled = peer.attempts(1);
    assert!(throttled[1].at - throttled[0].at >= Duration::from_millis(990), "Retry-After: 1 honoured: {:?}", throttled[1].at - throttled[0].at);
    assert_eq!(peer.attempts(0)[0].path, "/hook/0");

    let by_id: HashMap<i64, &Value> = errors.iter().map(|e| (e["message"]["id"].as_i64().expect("id"), e)).collect();
    assert_eq!(by_id.keys().copied().collect::<BTreeSet<_>>(), BTreeSet::from([2, 5]), "{errors:#?}");
    let bad = by_id[&2];
    assert_eq!((bad["status"].as_u64(), bad["node"].as_str(), bad["origin"]["source"].as_str()), (Some(400), Some("hook"), Some("src")));
    let body = bad["body"].as_str().expect("an excerpt");
    assert!(body.starts_with("bad request: xxx") && body.len() == 256, "{body}");
    assert!(bad["error"].as_str().expect("text").contains("400"));
    assert_eq!(by_id[&5]["status"], 500);
    assert!(by_id[&5]["error"].as_str().expect("text").contains("after 3 retries"), "{}", by_id[&5]);

    let mut seen = HashMap::new();
    while let Some(Ack { id, status }) = acks.recv().await {
        seen.insert(ids[&id], (status, Instant::now()));
    }
    assert_eq!(seen.len(), scripts.len(), "every message is acknowledged");
    for (n, answered_at) in &answered {
        let (status, at) = seen[n];
        assert_eq!(status, AckStatus::Delivered, "message {n}");
        assert!(at >= *answered_at, "message {n} acknowledged before its 2xx");
    }
}

/// Without an errors port, a 4xx and a 5xx past the retries are dropped, never acknowledged as
/// delivered; the metrics count requests by status class, retries, and the exposition passes
/// promtool.
#[tokio::test]
async fn failures_without_an_errors_port_are_not_acknowledged_as_delivered() {
    let peer = Peer::start().await;
    let config = sink(&format!("url = \"http://{}/hook\"\nrequest = {{ retry_attempts = 1, retry_initial_backoff_ms = 10 }}", peer.addr));
    let (running, input, _) = start(config, false).await;
    for (n, script) in [json!(["400"]), json!(["500", "503"]), json!([])].into_iter().enumerate() {
        input.send(json!({"id": n, "script": script})).await.expect("accepted");
    }
    let mut acks = input.close();
    let metrics = running.metrics().clone();
    running.wait().await.expect("runs to the end");
    let mut statuses = Vec::new();
    while let Some(Ack { status, .. }) = acks.recv().await {
        statuses.push(status);
    }
    statuses.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(statuses, vec![AckStatus::Delivered, AckStatus::Dropped, AckStatus::Dropped]);
    assert_eq!(peer.seen().len(), 4);
    let count = |status| metrics.total("runnel_http_sink_requests_total", Some(("status", status)));
    assert_eq!((count("2xx"), count("4xx"), count("5xx")), (1.0, 1.0, 2.0));
    assert_eq!(metrics.total("runnel_http_sink_retries_total", None), 1.0);
    let text = prometheus::TextEncoder::new().encode_to_string(&metrics.registry().gather()).expect("encodes");
    assert!(text.contains("runnel_http_sink_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("runnel_http_sink_in_flight_requests"), "{text}");
    crate::support::assert_promtool_accepts(&text);
}

/// Batches are arrays of `max_events`, per URL (the template's field); what is left is sent at
/// the end of the input; each request's body carries a verifiable HMAC signature.
#[tokio::test]
async fn batches_fill_by_count_per_url_and_are_signed() {
    let mut peer = Peer::start().await;
    let config = sink(&format!(
        "url = \"http://{}/rooms/{{room}}\"\nbatch = {{ max_events = 5, timeout_ms = 600000 }}\nsigning = {{ secret = \"s3cret\" }}",
        peer.addr
    ));
    let (running, input, _) = start(config, false).await;
    for id in 0..12 {
        input.send(json!({"id": id, "room": if id % 2 == 0 { "even" } else { "odd" }})).await.expect("accepted");
    }
    peer.wait_for_requests(2).await;
    let full: Vec<_> = peer.seen();
    assert!(full.iter().all(|s| s.messages().len() == 5), "full batches first: {full:?}");
    let _acks = input.close();
    running.wait().await.expect("runs to the end");
    let mut sizes: Vec<(String, usize)> = peer.seen().iter().map(|s| (s.path.clone(), s.messages().len())).collect();
    sizes.sort();
    assert_eq!(sizes, vec![("/rooms/even".into(), 1), ("/rooms/even".into(), 5), ("/rooms/odd".into(), 1), ("/rooms/odd".into(), 5)]);
    for seen in peer.seen() {
        let room = seen.path.trim_start_matches("/rooms/").to_owned();
        assert!(seen.messages().iter().all(|m| m["room"] == room.as_str()));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").expect("any key");
        mac.update(&seen.body);
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(seen.headers["x-hub-signature-256"], format!("sha256={expected}"));
        assert_eq!(seen.headers["content-type"], "application/json");
    }
}

/// A batch that does not fill is sent `timeout_ms` after its first message, while the input
/// stays open; NDJSON bodies have a line per message. A message whose URL field is missing goes
/// to the errors port.
#[tokio::test]
async fn batches_are_sent_on_time_and_a_missing_url_field_fails_the_message() {
    let mut peer = Peer::start().await;
    let config = sink(&format!("url = \"http://{}/u/{{user}}\"\nencoding = \"ndjson\"\nbatch = {{ max_events = 100, timeout_ms = 200 }}", peer.addr));
    let (running, input, dead) = start(config, true).await;
    for id in 0..3 {
        input.send(json!({"id": id, "user": "ann"})).await.expect("accepted");
    }
    input.send(json!({"id": 9})).await.expect("accepted");
    peer.wait_for_requests(1).await;
    let seen = peer.seen();
    let lines: Vec<&str> = std::str::from_utf8(&seen[0].body).expect("text").lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(seen[0].headers["content-type"], "application/x-ndjson");
    let _acks = input.close();
    let (errors, done) = tokio::join!(dead.expect("dead letters").collect_values(), running.wait());
    done.expect("runs to the end");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["message"]["id"], 9);
    assert!(errors[0]["error"].as_str().expect("text").contains("`user`"), "{}", errors[0]);
    assert_eq!(errors[0]["status"], Value::Null);
}

/// `request.rate_limit_num` requests start per window: the peer sees the third request a window
/// after the first. `batch.max_bytes` closes a batch before the body passes it.
#[tokio::test]
async fn requests_keep_to_the_rate_limit_and_batches_to_max_bytes() {
    let peer = Peer::start().await;
    let config = sink(&format!(
        "url = \"http://{}/hook\"\nbatch = {{ max_events = 100, max_bytes = 40, timeout_ms = 600000 }}\nrequest = {{ rate_limit_num = 2, rate_limit_duration_ms = 400 }}",
        peer.addr
    ));
    let (running, input, _) = start(config, false).await;
    // Each message is 17 bytes of JSON: two fit in 40 with the brackets and the comma, three do not.
    for id in 10..16 {
        input.send(json!({"id": id, "p": "x"})).await.expect("accepted");
    }
    let _acks = input.close();
    running.wait().await.expect("runs to the end");
    let seen = peer.seen();
    assert_eq!(seen.iter().map(|s| s.messages().len()).collect::<Vec<_>>(), vec![2, 2, 2], "{seen:?}");
    assert!(seen.iter().all(|s| s.body.len() <= 40));
    let mut starts: Vec<Instant> = seen.iter().map(|s| s.at).collect();
    starts.sort();
    assert!(starts[2] - starts[0] >= Duration::from_millis(390), "the third request waited for the window: {:?}", starts[2] - starts[0]);
}

/// At shutdown a request in flight finishes, its retry included, before the pipeline ends, and
/// its message is acknowledged as delivered.
#[tokio::test]
async fn shutdown_waits_for_the_requests_in_flight() {
    let mut peer = Peer::start().await;
    let config = sink(&format!("url = \"http://{}/hook\"\nrequest = {{ retry_initial_backoff_ms = 300 }}", peer.addr));
    let (running, input, _) = start(config, false).await;
    input.send(json!({"id": 1, "script": ["500"]})).await.expect("accepted");
    peer.wait_for_requests(1).await;
    running.shutdown_token().cancel();
    running.wait().await.expect("a clean shutdown");
    assert_eq!(peer.attempts(1).iter().filter_map(|s| s.answered).collect::<Vec<_>>(), vec![500, 200]);
    let mut acks = input.close();
    assert_eq!(acks.recv().await.map(|a| a.status), Some(AckStatus::Delivered));
}

/// A `Retry-After` given as an HTTP date (2 s ahead, to the second) is waited for, where the
/// backoff alone would retry after 20 ms.
#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let peer = Peer::start().await;
    let config = sink(&format!(
        "url = \"http://{}/hook\"\nrequest = {{ retry_attempts = 2, retry_initial_backoff_ms = 20, retry_max_backoff_ms = 5000 }}",
        peer.addr
    ));
    let (running, input, _) = start(config, false).await;
    input.send(json!({"id": 1, "script": ["429-date"]})).await.expect("accepted");
    let _acks = input.close();
    running.wait().await.expect("runs to the end");
    let attempts = peer.attempts(1);
    assert_eq!(attempts.iter().map(|a| a.answered).collect::<Vec<_>>(), [Some(429), Some(200)]);
    let waited = attempts[1].at - attempts[0].at;
    assert!(waited >= Duration::from_millis(990) && waited < Duration::from_secs(4), "waited {waited:?}");
}
