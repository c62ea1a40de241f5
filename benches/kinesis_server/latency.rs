//! End-to-end latency at a steady 1,000 records/s: a producer puts 10 records every 10 ms with
//! `PutRecords` into `kinesis_server` (`fsync = "always"`), and a `lambda` block (batch size 100,
//! no batching window, as Lambda's default for Kinesis) invokes a Rust handler that notes, for
//! each record, the time since its `PutRecords` call was sent. Prints p50, p99 and the maximum.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use runnel::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, PipelineBuilder, RunContext, async_trait};
use runnel_blocks::lambda::{Handler, HandlerConfig, HandlerError, LambdaConfig};
use serde_json::{Value, json};

/// Records per `PutRecords` call, one call every [`TICK`]: 1,000 records/s.
const PER_CALL: usize = 10;
const TICK: Duration = Duration::from_millis(10);

/// Notes each record's latency: the handler's clock minus the send time in its data.
#[derive(Debug)]
struct Timer {
    epoch: Instant,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

#[async_trait]
impl Handler for Timer {
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
        let now = self.epoch.elapsed();
        let mut latencies = self.latencies.lock().expect("not poisoned");
        for record in event["Records"].as_array().into_iter().flatten() {
            let data = STANDARD.decode(record["kinesis"]["data"].as_str().unwrap_or_default()).map_err(|e| HandlerError::Function(e.to_string()))?;
            let sent: Value = serde_json::from_slice(&data).map_err(|e| HandlerError::Function(e.to_string()))?;
            let sent = Duration::from_micros(sent["sent_us"].as_u64().unwrap_or_default());
            latencies.push(now.saturating_sub(sent));
        }
        Ok(json!({}))
    }
}

/// Drops what it receives (the records the block passes on).
#[derive(Debug, Clone)]
struct Discard;

#[async_trait]
impl BlockConfig for Discard {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Discard))
    }
}

#[async_trait]
impl Block for Discard {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            drop(batch);
        }
        Ok(())
    }
}

/// The percentile `p` (0 to 100) of sorted latencies.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs the measurement for `seconds` (the first second is warm-up, not counted) and prints it.
pub(crate) fn run(runtime: &tokio::runtime::Runtime, data: &std::path::Path, seconds: u64) {
    let address = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let source = toml::from_str::<runnel::connectors::KinesisServerConfig>(&format!(
        "address = \"{address}\"\ndata_dir = \"{}\"\nfsync = \"always\"\nstreams = [{{ name = \"chat\", shards = 2 }}]",
        data.display()
    ))
    .expect("a valid kinesis_server");
    let epoch = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut lambda: LambdaConfig = toml::from_str("batch_size = 100\nhandler = { type = \"map\", program = \".\" }").expect("a valid lambda");
    lambda.handler = HandlerConfig::rust(Timer { epoch, latencies: Arc::clone(&latencies) });
    let pipeline = PipelineBuilder::new()
        .source("ingest", source)
        .block("function", ["ingest"], lambda)
        .sink("out", ["function"], Discard)
        .build()
        .expect("a valid pipeline");
    let running = runtime.block_on(pipeline.start()).expect("starts");
    let url = format!("http://{address}");
    let calls = seconds * 1000 / TICK.as_millis() as u64;
    let warm_up = 1000 / TICK.as_millis() as u64;
    let counted_from = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut counted_from = 0;
        for call in 0..calls {
            ticks.tick().await;
            let sent_us = epoch.elapsed().as_micros() as u64;
            let records: Vec<Value> = (0..PER_CALL)
                .map(|i| json!({"Data": STANDARD.encode(json!({"sent_us": sent_us}).to_string()), "PartitionKey": format!("room-{i}")}))
                .collect();
            let body = serde_json::to_vec(&json!({"StreamName": "chat", "Records": records})).expect("JSON");
            let answer = super::call(&client, &url, "PutRecords", body).await;
            assert_eq!(answer["FailedRecordCount"], 0, "every record stored: {answer}");
            if call + 1 == warm_up {
                counted_from = latencies.lock().expect("not poisoned").len();
            }
        }
        // The last records reach the handler.
        let expected = calls as usize * PER_CALL;
        let deadline = Instant::now() + Duration::from_secs(10);
        while latencies.lock().expect("not poisoned").len() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        counted_from
    });
    running.shutdown_token().cancel();
    runtime.block_on(running.wait()).expect("stops");
    let mut measured: Vec<Duration> = latencies.lock().expect("not poisoned")[counted_from..].to_vec();
    measured.sort_unstable();
    if measured.is_empty() {
        println!("  latency: no record reached the handler");
        return;
    }
    println!(
        "PutRecords -> lambda handler at {} records/s ({} records, fsync per group commit): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        PER_CALL as u64 * 1000 / TICK.as_millis() as u64,
        measured.len(),
        percentile(&measured, 50.0).as_secs_f64() * 1000.0,
        percentile(&measured, 99.0).as_secs_f64() * 1000.0,
        measured[measured.len() - 1].as_secs_f64() * 1000.0
    );
}
