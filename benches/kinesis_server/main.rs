//! PutRecords throughput: several concurrent producers (reqwest, keep-alive) send 500-record
//! `PutRecords` batches into runnel's `kinesis_server` (4 shards, `fsync = "always"`: every
//! answer waits for its group commit's fsync), into kinesalite doing the same
//! (`RUNNEL_KINESALITE_URL`, skipped when unset), and beside them the raw rate of the disk: a loop
//! that appends the same frames for 500 records and fsyncs, once per batch (what one producer
//! without group commit could reach). Prints records/s and the ratios. Then the end-to-end
//! latency from `PutRecords` to a `lambda` block's handler at 1,000 records/s (module `latency`).
//!
//! `cargo bench --bench kinesis_server` (`RUNNEL_BENCH_BATCHES`, default 400 batches of 500
//! records for runnel and the raw loop, a tenth of it for kinesalite; `RUNNEL_BENCH_PRODUCERS`,
//! default 8; `RUNNEL_BENCH_LATENCY_SECONDS`, default 6).

mod latency;

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

const BATCH: usize = 500;
/// About a chat message.
const DATA_BYTES: usize = 180;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn call(client: &reqwest::Client, url: &str, operation: &str, body: Vec<u8>) -> Value {
    let response = client
        .post(url)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", format!("Kinesis_20131202.{operation}"))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00")
        .header("X-Amz-Date", "20260101T000000Z")
        .body(body)
        .send()
        .await
        .expect("answered");
    let bytes = response.bytes().await.expect("a body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// A PutRecords body for `stream`: 500 records of 180 bytes, keys spread over the shards.
fn batch_body(stream: &str, producer: usize) -> Vec<u8> {
    let data = STANDARD.encode(vec![b'x'; DATA_BYTES]);
    let records: Vec<Value> = (0..BATCH).map(|i| json!({"Data": data, "PartitionKey": format!("room-{producer}-{i}")})).collect();
    serde_json::to_vec(&json!({"StreamName": stream, "Records": records})).expect("JSON")
}

/// Records per second stored by `url`'s stream `stream`, `batches` batches from `producers` producers.
async fn put_rate(url: &str, stream: &str, batches: usize, producers: usize) -> f64 {
    let client = reqwest::Client::new();
    let create = serde_json::to_vec(&json!({"StreamName": stream, "ShardCount": 4})).expect("JSON");
    call(&client, url, "CreateStream", create).await;
    // kinesalite creates streams asynchronously.
    for _ in 0..100 {
        let summary = call(&client, url, "DescribeStreamSummary", serde_json::to_vec(&json!({"StreamName": stream})).expect("JSON")).await;
        if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = Arc::new(AtomicUsize::new(batches));
    let stored = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let (client, url, left, stored, body) =
            (client.clone(), url.to_owned(), Arc::clone(&left), Arc::clone(&stored), batch_body(stream, producer));
        tasks.push(tokio::spawn(async move {
            while left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                let answer = call(&client, &url, "PutRecords", body.clone()).await;
                let failed = answer["FailedRecordCount"].as_u64().expect("a PutRecords answer") as usize;
                stored.fetch_add(BATCH - failed, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("a producer");
    }
    stored.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The raw rate: the frames of 500 records appended and fsynced, `batches` times, one loop.
fn raw_rate(dir: &std::path::Path, batches: usize) -> f64 {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("raw.log")).expect("a file");
    // The same bytes a shard log writes: an 8-byte header, 18 bytes of counter/arrival/key length, key and data.
    let frame = vec![b'x'; 8 + 18 + 12 + DATA_BYTES];
    let buffer: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * BATCH).collect();
    let started = Instant::now();
    for _ in 0..batches {
        file.write_all(&buffer).expect("written");
        file.sync_data().expect("synced");
    }
    (batches * BATCH) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let (batches, producers) = (env("RUNNEL_BENCH_BATCHES", 400), env("RUNNEL_BENCH_PRODUCERS", 8));
    let dir = tempfile::tempdir().expect("temporary folder");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let address = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let toml = format!(
        "[sources.k]\ntype = \"kinesis_server\"\naddress = \"{address}\"\ndata_dir = \"{}\"\nfsync = \"always\"\n\
         [sinks.out]\ntype = \"file\"\ninputs = [\"k\"]\npath = \"{}\"\n",
        dir.path().join("data").display(),
        dir.path().join("out.ndjson").display()
    );
    let pipeline = runnel::Pipeline::parse(&toml, None, &runnel::registry(), |_| None).expect("a valid pipeline");
    let running = runtime.block_on(pipeline.start()).expect("starts");
    let ours = runtime.block_on(put_rate(&format!("http://{address}"), "bench", batches, producers));
    let metrics = running.metrics();
    let commits = metrics.total("runnel_kinesis_server_group_commits_total", None);
    let fsyncs = metrics.total("runnel_kinesis_server_fsyncs_total", None);
    running.shutdown_token().cancel();
    runtime.block_on(running.wait()).expect("stops");
    let raw = raw_rate(dir.path(), batches);
    println!("PutRecords, {BATCH}-record batches of {DATA_BYTES} B, {producers} producers, fsync per group commit:");
    println!(
        "  runnel kinesis_server: {ours:>10.0} records/s ({commits} group commits, {fsyncs} fsyncs, {:.0} records per commit)",
        (batches * BATCH) as f64 / commits.max(1.0)
    );
    println!("  raw append + fsync per 500 records, one loop: {raw:>10.0} records/s   runnel / raw = {:.2}", ours / raw);
    match std::env::var("RUNNEL_KINESALITE_URL") {
        Ok(url) if !url.is_empty() => {
            let stream = format!("bench-{}", std::process::id());
            let theirs = runtime.block_on(put_rate(&url, &stream, (batches / 10).max(1), producers));
            println!("  kinesalite:            {theirs:>10.0} records/s   runnel / kinesalite = {:.1}", ours / theirs);
        }
        _ => println!("  kinesalite: skipped (RUNNEL_KINESALITE_URL is not set)"),
    }
    latency::run(&runtime, &dir.path().join("latency"), env("RUNNEL_BENCH_LATENCY_SECONDS", 6) as u64);
}
