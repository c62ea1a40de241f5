//! The `http` block against the scripted peer: answers merged at a path, order with calls at
//! once, the cache, and every kind of failure on the errors port with its status; and against
//! CPython's `http.server`.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use runnel::{PipelineBuilder, PipelineMetrics, RunningPipeline};
use runnel_connectors::http::HttpBlockConfig;
use runnel_connectors::{MemoryInput, MemoryOutput, MemorySinkConfig, MemorySourceConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::peer::Peer;

/// `src` (memory) → `call` (http block) → `out` (memory), with `call.errors` → `dead` (memory).
async fn start(config: &str) -> (RunningPipeline, MemoryInput, MemoryOutput, MemoryOutput) {
    let config: HttpBlockConfig = toml::from_str(config).expect("a valid http block");
    let (source, input) = MemorySourceConfig::channel();
    let (out_sink, out) = MemorySinkConfig::channel();
    let (dead_sink, dead) = MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("src", source)
        .block("call", ["src"], config)
        .sink("out", ["call"], out_sink)
        .sink("dead", ["call.errors"], dead_sink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    (running, input, out, dead)
}

/// Runs `values` through the block to the end: what reached `out` and `dead`, in the order they
/// came, and the pipeline's metrics.
async fn run(config: &str, values: Vec<Value>) -> (Vec<Value>, Vec<Value>, PipelineMetrics) {
    let (running, input, out, dead) = start(config).await;
    for value in values {
        input.send(value).await.expect("accepted");
    }
    let _acks = input.close();
    let metrics = running.metrics().clone();
    let (outs, errors, done) = tokio::join!(out.collect_values(), dead.collect_values(), running.wait());
    done.expect("runs to the end");
    (outs, errors, metrics)
}

fn ids(values: &[Value]) -> Vec<i64> {
    values.iter().map(|v| v["id"].as_i64().expect("an id")).collect()
}

/// A GET's JSON answer lands at `response_at` and its status at `status_at`; the URL's fields
/// are percent-encoded; a POST's body is the jq expression's output, sent as JSON with the
/// configured headers; text and binary answers come as a string and as base64.
#[tokio::test]
async fn answers_are_merged_at_the_path_with_their_status() {
    let peer = Peer::start().await;
    let get = format!("url = \"http://{}/users/{{user}}?id={{id}}\"\nresponse_at = \"profile\"\nstatus_at = \".meta.status\"", peer.addr);
    let (outs, errors, _) = run(&get, vec![json!({"id": 1, "user": "ann b/c", "meta": {"keep": true}})]).await;
    assert_eq!(errors, Vec::<Value>::new());
    let expected_answer = json!({"path": "/users/ann%20b%2Fc?id=1", "method": "GET", "attempt": 0, "body": null});
    assert_eq!(outs, vec![json!({"id": 1, "user": "ann b/c", "meta": {"keep": true, "status": 200}, "profile": expected_answer})]);
    assert!(!peer.seen()[0].headers.contains_key("content-type"), "a GET has no body and no content type");

    let post = format!(
        "url = \"http://{}/lookup?id={{id}}\"\nmethod = \"POST\"\nbody = \"{{name: .user, n: (.id * 10)}}\"\nheaders = {{ Authorization = \"Bearer t0ken\" }}\nresponse_at = \"found\"",
        peer.addr
    );
    let (outs, _, _) = run(&post, vec![json!({"id": 2, "user": "bo"})]).await;
    assert_eq!(outs[0]["found"]["method"], "POST");
    assert_eq!(outs[0]["found"]["body"], json!({"name": "bo", "n": 20}));
    let request = peer.attempts(2).remove(0);
    assert_eq!((request.headers["content-type"].as_str(), request.headers["authorization"].as_str()), ("application/json", "Bearer t0ken"));

    let formats = format!("url = \"http://{}/f?id={{id}}&script={{script}}\"\nresponse_at = \"r\"", peer.addr);
    let (outs, _, _) = run(&formats, vec![json!({"id": 3, "script": "text"}), json!({"id": 4, "script": "bytes"})]).await;
    assert_eq!((outs[0]["r"].as_str(), outs[1]["r"].as_str()), (Some("plain words"), Some("AQID")));
}

/// With `ordered = true` (the default) messages leave in input order although their calls, run at
/// once, finish in the reverse order; the peer received every request before answering the first.
#[tokio::test]
async fn calls_run_at_once_and_messages_keep_their_order() {
    let peer = Peer::start().await;
    let config = format!("url = \"http://{}/slow?id={{id}}&script={{script}}\"\nresponse_at = \"r\"\nconcurrency = 4", peer.addr);
    let scripts = ["sleep600", "sleep400", "sleep200", "sleep0"];
    let values = scripts.iter().enumerate().map(|(id, script)| json!({"id": id, "script": script})).collect();
    let (outs, errors, _) = run(&config, values).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ids(&outs), vec![0, 1, 2, 3]);
    let seen = peer.seen();
    let last_asked = seen.iter().map(|s| s.at).max().expect("requests");
    let first_answered = seen.iter().filter_map(|s| s.answered_at).min().expect("answers");
    assert_eq!(seen.len(), 4);
    assert!(last_asked < first_answered, "the four calls were in flight together");
    let mut by_answer: Vec<(Instant, i64)> =
        seen.iter().map(|s| (s.answered_at.expect("answered"), s.query("id").expect("id").parse().expect("n"))).collect();
    by_answer.sort();
    assert_eq!(by_answer.iter().map(|(_, id)| *id).collect::<Vec<_>>(), vec![3, 2, 1, 0], "the peer answered in reverse");
}

/// With `ordered = false` each message leaves as its call finishes; `concurrency = 2` keeps the
/// third request until one of the first two is answered.
#[tokio::test]
async fn unordered_messages_leave_as_their_calls_finish_within_the_limit() {
    let peer = Peer::start().await;
    let config = format!("url = \"http://{}/slow?id={{id}}&script={{script}}\"\nresponse_at = \"r\"\nconcurrency = 2\nordered = false", peer.addr);
    let values = ["sleep500", "sleep0", "sleep0"].iter().enumerate().map(|(id, script)| json!({"id": id, "script": script})).collect();
    let (outs, _, _) = run(&config, values).await;
    assert_eq!(ids(&outs), vec![1, 2, 0]);
    let seen: HashMap<i64, _> = peer.seen().into_iter().map(|s| (s.query("id").expect("id").parse::<i64>().expect("n"), s)).collect();
    assert!(seen[&2].at >= seen[&1].answered_at.expect("answered"), "the third call waited for a free slot");
}

/// A message whose cache key was answered within the TTL makes no request and gets the same
/// answer; another key makes its own; once the TTL has passed the key is asked again; calls for
/// a key already being asked wait for that answer. Hits and misses are counted.
#[tokio::test]
async fn the_cache_answers_a_repeated_key_until_its_ttl_passes() {
    let peer = Peer::start().await;
    let config = format!(
        "url = \"http://{}/users/{{user}}?id={{id}}&script={{script}}\"\nresponse_at = \"profile\"\nstatus_at = \"status\"\ncache = {{ key = \".user\", ttl = \"400ms\", max_entries = 10 }}",
        peer.addr
    );
    let (running, input, mut out, _dead) = start(&config).await;
    let metrics = running.metrics().clone();
    let mut call = async |mut value: Value| {
        value["script"] = json!("");
        input.send(value).await.expect("accepted");
        out.recv().await.expect("a message out").value().clone()
    };
    let first = call(json!({"id": 1, "user": "ann"})).await;
    let stored = Instant::now();
    let second = call(json!({"id": 2, "user": "ann"})).await;
    let other = call(json!({"id": 3, "user": "bo"})).await;
    assert!(stored.elapsed() < Duration::from_millis(400), "the second message came within the TTL");
    assert_eq!(peer.seen().len(), 2, "the second `ann` made no request");
    assert_eq!((&second["profile"], &second["status"]), (&first["profile"], &json!(200)));
    assert_eq!(second["profile"]["path"], "/users/ann?id=1&script=", "the answer to the first message");
    assert_eq!(other["profile"]["path"], "/users/bo?id=3&script=");
    // The TTL is what is under test: wait it out.
    tokio::time::sleep(Duration::from_millis(450).saturating_sub(stored.elapsed())).await;
    let later = call(json!({"id": 4, "user": "ann"})).await;
    assert_eq!(later["profile"]["path"], "/users/ann?id=4&script=");
    assert_eq!(peer.seen().len(), 3);
    // A burst of one new key, its calls at once: those after the first wait for its answer.
    for id in 10..13 {
        input.send(json!({"id": id, "user": "cy", "script": "sleep300"})).await.expect("accepted");
    }
    for id in 10..13 {
        let burst = out.recv().await.expect("a message out").value().clone();
        assert_eq!((&burst["id"], &burst["profile"]["path"]), (&json!(id), &json!("/users/cy?id=10&script=sleep300")));
    }
    assert_eq!(peer.seen().len(), 4, "one request for the burst");
    assert_eq!(metrics.total("runnel_http_block_cache_hits_total", None), 3.0);
    assert_eq!(metrics.total("runnel_http_block_cache_misses_total", None), 4.0);
    let _acks = input.close();
    running.wait().await.expect("runs to the end");
}

/// 500 twice and a 429 with `Retry-After: 1` are retried into answers; a 400 is not retried; a
/// slow answer past `timeout_ms`, a dropped connection and 5xx past the retries fail after them;
/// an answer that is not JSON or longer than `max_response_bytes` fails; a message without the
/// URL's field fails before any request.
/// Each failure reaches the errors port with its status (`null` without an answer) and the start
/// of the answer's body, and the metrics count attempts by class.
#[tokio::test]
async fn every_failure_reaches_the_errors_port_with_its_status() {
    let peer = Peer::start().await;
    let config = format!(
        "url = \"http://{}/x?id={{id}}&script={{script}}\"\nresponse_at = \"r\"\ntimeout_ms = 500\nretry_attempts = 2\nretry_initial_backoff_ms = 20\nretry_max_backoff_ms = 2000\nmax_response_bytes = 500",
        peer.addr
    );
    let scripts = ["500.500", "429", "400", "slow.slow.slow", "drop.drop.drop", "500.500.500", "badjson", "big"];
    let mut values: Vec<Value> = scripts.iter().enumerate().map(|(id, script)| json!({"id": id, "script": script})).collect();
    values.push(json!({"script": "", "no": "id"}));
    let (outs, errors, metrics) = run(&config, values).await;

    assert_eq!(ids(&outs), vec![0, 1]);
    assert_eq!((outs[0]["r"]["attempt"].as_u64(), outs[1]["r"]["attempt"].as_u64()), (Some(2), Some(1)));
    let throttled = peer.attempts(1);
    assert!(throttled[1].at - throttled[0].at >= Duration::from_millis(990), "Retry-After: 1 honoured");
    assert_eq!(peer.attempts(2).len(), 1, "no retry after a 400");
    assert_eq!((peer.attempts(3).len(), peer.attempts(4).len(), peer.attempts(5).len()), (3, 3, 3), "the first attempt and 2 retries");

    let by_id: HashMap<String, &Value> = errors.iter().map(|e| (e["message"]["id"].to_string(), e)).collect();
    assert_eq!(errors.len(), 7, "{errors:#?}");
    let error = |id: &str| (by_id[id]["status"].clone(), by_id[id]["error"].as_str().expect("text").to_owned());
    let (status, text) = error("2");
    assert_eq!((status, by_id["2"]["node"].as_str()), (json!(400), Some("call")));
    assert!(text.contains("400") && by_id["2"]["body"].as_str().expect("excerpt").starts_with("bad request: xxx"), "{text}");
    assert_eq!(by_id["2"]["body"].as_str().map(str::len), Some(256));
    let (status, text) = error("3");
    assert!(status.is_null() && text.contains("timed out") && text.contains("after 2 retries"), "{text}");
    let (status, text) = error("4");
    assert!(status.is_null() && text.contains("after 2 retries"), "{text}");
    let (status, text) = error("5");
    assert!(status == 500 && text.contains("after 2 retries"), "{text}");
    let (status, text) = error("6");
    assert!(status == 200 && text.contains("not JSON"), "{text}");
    assert_eq!(by_id["6"]["body"], "{\"cut\": ");
    let (status, text) = error("7");
    assert!(status == 200 && text.contains("longer than 500 bytes"), "{text}");
    assert!(by_id["7"]["body"].as_str().expect("excerpt").starts_with("{\"pad\":\"xxx"), "{}", by_id["7"]);
    let (status, text) = error("null");
    assert!(status.is_null() && text.contains("`url`") && text.contains("`id`"), "{text}");

    let count = |status| metrics.total("runnel_http_block_requests_total", Some(("status", status)));
    assert_eq!((count("2xx"), count("4xx"), count("5xx"), count("error")), (4.0, 2.0, 5.0, 6.0));
    assert_eq!(metrics.total("runnel_http_block_retries_total", None), 9.0);
    assert_eq!(metrics.total("runnel_http_block_in_flight_requests", None), 0.0);
    let text = prometheus::TextEncoder::new().encode_to_string(&metrics.registry().gather()).expect("encodes");
    assert!(text.contains("runnel_http_block_request_duration_seconds_bucket"), "{text}");
    crate::support::assert_promtool_accepts(&text);
}

/// CPython's own `http.server` (a server these tests did not write) serving a folder: a `.json`
/// file comes parsed by the content type Python guesses, a `.png` as base64, and a missing file
/// is a 404 on the errors port with the start of Python's error page. Skipped without python3
/// outside CI.
#[tokio::test]
async fn files_from_python_http_server_are_merged_by_content_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("users")).expect("mkdir");
    std::fs::write(dir.path().join("users/ann.json"), r#"{"name": "Ann", "langs": ["en", "fr"]}"#).expect("writes");
    std::fs::write(dir.path().join("users/ann.png"), [0x89, b'P', b'N', b'G', 0, 1]).expect("writes");
    let spawned = tokio::process::Command::new("python3")
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut python) = spawned else {
        assert!(!crate::support::peers_required(), "python3 is missing");
        eprintln!("skipped: python3 is missing");
        return;
    };
    let mut lines = BufReader::new(python.stdout.take().expect("stdout")).lines();
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    let banner = lines.next_line().await.expect("reads").expect("python announces its port");
    let port = banner.split(" port ").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("a port").to_owned();
    let config = format!("url = \"http://127.0.0.1:{port}/users/{{user}}.{{ext}}\"\nresponse_at = \"file\"\nstatus_at = \"status\"");
    let values = vec![
        json!({"id": 1, "user": "ann", "ext": "json"}),
        json!({"id": 2, "user": "ann", "ext": "png"}),
        json!({"id": 3, "user": "zed", "ext": "json"}),
    ];
    let (outs, errors, _) = run(&config, values).await;
    assert_eq!(ids(&outs), vec![1, 2]);
    assert_eq!((&outs[0]["file"], &outs[0]["status"]), (&json!({"name": "Ann", "langs": ["en", "fr"]}), &json!(200)));
    assert_eq!(outs[1]["file"], "iVBORwAB", "the PNG's bytes as base64");
    assert_eq!((errors.len(), &errors[0]["status"], &errors[0]["message"]["id"]), (1, &json!(404), &json!(3)));
    assert!(errors[0]["body"].as_str().expect("an excerpt").contains("404"), "{}", errors[0]);
}
