//! The `websocket` client source and sink against Python `websockets` servers: reconnection
//! without loss, TLS with a private CA, and backpressure while the server is away.

use std::time::Duration;

use runnel::PipelineBuilder;
use runnel_connectors::{MemoryOutput, MemorySourceConfig, WebSocketSinkConfig, take_output};
use runnel_engine::{AckStatus, PipelineMetrics};
use serde_json::{Value, json};

use super::peer::Peer;
use super::{eventually, metric};
use crate::support::pipeline;

const WAIT: Duration = Duration::from_secs(20);

async fn next_value(output: &mut MemoryOutput) -> Value {
    let message = tokio::time::timeout(WAIT, output.recv()).await.expect("a message in time").expect("the sink runs");
    message.into_value()
}

/// Runs a `websocket` source against a `feed-server` peer and checks every frame arrives in
/// order across the dropped connection, the subscription is sent on both, and the frame that is
/// not JSON goes to the errors port.
async fn feed(mut server: Peer, scheme: &str, host: &str, extra: &str) -> PipelineMetrics {
    let port = server.port().await;
    let running = pipeline(&format!(
        r#"
        [sources.feed]
        type = "websocket"
        url = "{scheme}://{host}:{port}/feed"
        subscribe = [{{ op = "subscribe", channel = "ticks" }}]
        reconnect = {{ initial_ms = 20, max_ms = 200 }}
        {extra}

        [sinks.out]
        type = "memory"
        inputs = ["feed"]

        [sinks.bad]
        type = "memory"
        inputs = ["feed.errors"]
        "#
    ))
    .start()
    .await
    .expect("starts");
    let mut out = take_output(running.resources(), "out").expect("out");
    let mut bad = take_output(running.resources(), "bad").expect("bad");
    for connection in [1, 2] {
        let subscribed = server.until("subscribed").await;
        assert_eq!(subscribed["connection"], connection);
        assert_eq!(subscribed["message"], json!({"op": "subscribe", "channel": "ticks"}));
    }
    let mut seqs = Vec::new();
    while seqs.len() < 250 {
        seqs.push(next_value(&mut out).await["seq"].as_u64().expect("a sequence number"));
    }
    assert_eq!(seqs, (0..250).collect::<Vec<u64>>(), "every frame, in order, across the reconnection");
    let error = next_value(&mut bad).await;
    assert!(error["error"].as_str().is_some_and(|e| e.contains("invalid JSON")), "{error}");
    assert_eq!(error["message"], "this is { not json");
    assert_eq!(error["origin"]["offset"], 50, "{error}");
    let metrics = running.metrics().clone();
    running.shutdown_token().cancel();
    tokio::time::timeout(WAIT, running.wait()).await.expect("stops in time").expect("stops cleanly");
    metrics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_reconnects_and_misses_nothing_sent_after_it() {
    let Some(server) = Peer::start(&["feed-server", "--first", "50", "--second", "200"]).await else { return };
    let metrics = feed(server, "ws", "127.0.0.1", "").await;
    assert_eq!(metric(&metrics, "runnel_websocket_reconnects_total", "feed"), 1.0);
    assert_eq!(metric(&metrics, "runnel_websocket_connected", "feed"), 0.0, "disconnected after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_speaks_wss_to_a_server_signed_by_a_private_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("writes");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("writes");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let args = ["feed-server", "--first", "50", "--second", "200", "--cert", &cert, "--key", &key];
    let Some(server) = Peer::start(&args).await else { return };
    feed(server, "wss", "localhost", &format!("ca_file = {cert:?}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_holds_messages_back_while_the_server_is_away() {
    let Some(mut server) = Peer::start(&["collect-server"]).await else { return };
    let port = server.port().await;
    let (source, mut input) = MemorySourceConfig::channel();
    let sink: WebSocketSinkConfig =
        toml::from_str(&format!("url = \"ws://127.0.0.1:{port}/in\"\nreconnect = {{ initial_ms = 20, max_ms = 100 }}")).expect("config");
    let pipeline = PipelineBuilder::new().source("in", source).sink("ws", ["in"], sink).build().expect("valid");
    let running = pipeline.start().await.expect("starts");
    let metrics = running.metrics().clone();
    let finished = tokio::spawn(running.wait());

    for n in 0..10 {
        input.send(json!({"n": n})).await.expect("sent");
        assert_eq!(server.until("frame").await["data"]["n"], n);
    }
    for _ in 0..10 {
        let ack = tokio::time::timeout(WAIT, input.acks.recv()).await.expect("in time").expect("an ack");
        assert_eq!(ack.status, AckStatus::Delivered);
    }

    server.command("drop").await;
    server.until("dropped").await;
    eventually("the sink to notice", || metric(&metrics, "runnel_websocket_connected", "ws") == 0.0).await;
    for n in 10..60 {
        input.send(json!({"n": n})).await.expect("sent");
    }
    server.until("refused").await;
    server.until("refused").await;
    assert!(input.acks.try_recv().is_err(), "nothing is acknowledged while the server is away");

    server.command("accept").await;
    let mut received = Vec::new();
    while received.len() < 50 {
        received.push(server.until("frame").await["data"]["n"].as_u64().expect("n"));
    }
    assert_eq!(received, (10..60).collect::<Vec<u64>>(), "every held message, in order, once");
    for _ in 10..60 {
        let ack = tokio::time::timeout(WAIT, input.acks.recv()).await.expect("in time").expect("an ack");
        assert_eq!(ack.status, AckStatus::Delivered);
    }
    assert_eq!(metric(&metrics, "runnel_websocket_reconnects_total", "ws"), 1.0);
    assert_eq!(metric(&metrics, "runnel_websocket_connected", "ws"), 1.0);
    drop(input);
    tokio::time::timeout(WAIT, finished).await.expect("finishes").expect("joins").expect("runs cleanly");
}
