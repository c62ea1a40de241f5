//! The source side in process: what the pipeline gets, the checkpoint a restart resumes from,
//! and `starting_position` for a first start.

use std::net::SocketAddr;
use std::time::Duration;

use runnel::{MemoryOutput, RunningPipeline, take_output};
use serde_json::{Value, json};

use crate::support::{free_addr, pipeline};

const WAIT: Duration = Duration::from_secs(30);

async fn start(address: SocketAddr, data: &std::path::Path, extra: &str) -> (RunningPipeline, MemoryOutput) {
    let toml = format!(
        "[sources.k]\ntype = \"kinesis_server\"\naddress = \"{address}\"\ndata_dir = \"{}\"\nstreams = [{{ name = \"s\", shards = 2 }}]\n{extra}\n\
         [sinks.out]\ntype = \"memory\"\ninputs = [\"k\"]\n",
        data.display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let out = take_output(running.resources(), "out").expect("out");
    (running, out)
}

async fn stop(running: RunningPipeline) {
    running.shutdown_token().cancel();
    tokio::time::timeout(WAIT, running.wait()).await.expect("stops in time").expect("stops cleanly");
}

/// `PutRecords` over plain HTTP, as an SDK sends it.
async fn put(address: SocketAddr, keys: &[&str]) -> Value {
    let records: Vec<Value> =
        keys.iter().map(|k| json!({"Data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, k), "PartitionKey": k})).collect();
    let response = reqwest::Client::new()
        .post(format!("http://{address}/"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "Kinesis_20131202.PutRecords")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00")
        .body(json!({"StreamName": "s", "Records": records}).to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.expect("a body")).expect("JSON")
}

async fn keys(out: &mut MemoryOutput, count: usize) -> Vec<String> {
    let mut keys = Vec::new();
    while keys.len() < count {
        let message = tokio::time::timeout(WAIT, out.recv()).await.expect("a record in time").expect("the sink runs");
        keys.push(message.value()["kinesis"]["partitionKey"].as_str().expect("a key").to_owned());
    }
    keys.sort();
    keys
}

/// Records delivered before a restart are not emitted again; records put after it are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_after_the_acknowledged_checkpoint() {
    let data = tempfile::tempdir().expect("temporary folder");
    let address = free_addr();
    let (running, mut out) = start(address, data.path(), "").await;
    put(address, &["a", "b", "c"]).await;
    assert_eq!(keys(&mut out, 3).await, ["a", "b", "c"]);
    let metrics = running.metrics();
    let total = |name: &str| metrics.total(name, Some(("node", "k")));
    assert_eq!(total("runnel_kinesis_server_records_put_total"), 3.0);
    assert_eq!(total("runnel_kinesis_server_bytes_put_total"), 6.0, "data and partition keys");
    assert_eq!(total("runnel_kinesis_server_group_commits_total"), 1.0, "one request, one group commit");
    assert!(total("runnel_kinesis_server_fsyncs_total") >= 1.0);
    assert_eq!(total("runnel_kinesis_server_records_throttled_total"), 0.0);
    stop(running).await;
    let checkpoints: Value = serde_json::from_slice(&std::fs::read(data.path().join("checkpoints.json")).expect("saved at shutdown")).expect("JSON");
    assert_eq!(checkpoints["streams"]["s"]["shards"].as_array().map(|s| s.iter().filter_map(Value::as_u64).sum::<u64>()), Some(3));

    let (running, mut out) = start(address, data.path(), "").await;
    put(address, &["d"]).await;
    assert_eq!(keys(&mut out, 1).await, ["d"]);
    let more = tokio::time::timeout(Duration::from_millis(300), out.recv()).await;
    assert!(more.is_err(), "nothing delivered before the restart comes again: {:?}", more.ok().flatten().map(|m| m.value().clone()));
    stop(running).await;
}

/// Without a checkpoint, `LATEST` skips what the shards hold and emits what is put from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_skips_the_records_stored_before_a_first_start() {
    let data = tempfile::tempdir().expect("temporary folder");
    let address = free_addr();
    let (running, mut out) = start(address, data.path(), "").await;
    put(address, &["old"]).await;
    assert_eq!(keys(&mut out, 1).await, ["old"]);
    stop(running).await;
    std::fs::remove_file(data.path().join("checkpoints.json")).expect("a first start again");

    let (running, mut out) = start(address, data.path(), "starting_position = \"LATEST\"").await;
    put(address, &["new"]).await;
    assert_eq!(keys(&mut out, 1).await, ["new"]);
    stop(running).await;
}

/// With `ack = "delivered"`, a put is answered once the sink took its records: here a memory
/// sink whose reader holds one message. The second put waits past its timeout and is answered
/// `InternalFailure`; its record stays stored and reaches the sink once there is room (at least
/// once: a client's retry would deliver it twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ack_delivered_a_put_is_answered_once_the_sink_took_its_records() {
    let data = tempfile::tempdir().expect("temporary folder");
    let address = free_addr();
    let config: runnel::connectors::KinesisServerConfig = toml::from_str(&format!(
        "address = \"{address}\"\ndata_dir = \"{}\"\nstreams = [{{ name = \"s\", shards = 1 }}]\nack = \"delivered\"\ndelivery_timeout_ms = 500\n",
        data.path().display()
    ))
    .expect("a valid configuration");
    let (sink, mut out) = runnel::connectors::MemorySinkConfig::with_capacity(1);
    let running = runnel::PipelineBuilder::new().source("k", config).sink("out", ["k"], sink).build().expect("valid").start().await.expect("starts");
    assert_eq!(put(address, &["a"]).await["FailedRecordCount"], 0, "the sink's channel took it");
    let second = put(address, &["b"]).await;
    assert_eq!((second["FailedRecordCount"].clone(), second["Records"][0]["ErrorCode"].clone()), (json!(1), json!("InternalFailure")));
    assert_eq!(keys(&mut out, 1).await, ["a"]);
    assert_eq!(keys(&mut out, 1).await, ["b"], "stored, so delivered later");
    stop(running).await;
}
