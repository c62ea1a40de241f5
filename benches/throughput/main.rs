//! Throughput: NDJSON file → pass-through block → NDJSON file, through the engine, next to a
//! hand-written serde_json read-parse-write loop measured in the same run.
//!
//! `cargo bench --bench throughput` (1,000,000 messages; `RUNNEL_BENCH_MESSAGES` overrides).
//! Prints messages per second for each and the ratio engine / hand-written.

/// mimalloc: fast, and cheap when one thread frees what another allocated (every message
/// crossing an edge does).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod baseline;
mod input;

use std::path::Path;
use std::time::{Duration, Instant};

use runnel::engine::async_trait;
use runnel::{Block, BlockConfig, BuildContext, Emitter, FunctionBlock, Message, Pipeline};

/// A block that emits every message unchanged: what the engine costs around a block.
#[derive(Debug)]
struct Pass;

impl FunctionBlock for Pass {
    fn process(&mut self, message: Message, out: &mut Emitter) {
        out.emit(message);
    }
}

#[derive(Debug)]
struct PassConfig;

#[async_trait]
impl BlockConfig for PassConfig {
    async fn build(&self, _: &BuildContext) -> Result<Box<dyn Block>, runnel::engine::BuildError> {
        Ok(runnel::function_block(Pass))
    }
}

fn engine_run(input: &Path, output: &Path, workers: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let source: runnel::connectors::FileSourceConfig =
            toml::from_str(&format!("path = {:?}", input.display().to_string())).expect("config");
        let sink: runnel::connectors::FileSinkConfig =
            toml::from_str(&format!("path = {:?}\nappend = false", output.display().to_string())).expect("config");
        let pipeline: Pipeline = runnel::PipelineBuilder::new()
            .source("in", source)
            .block("pass", ["in"], PassConfig)
            .sink("out", ["pass"], sink)
            .build()
            .expect("valid");
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs this with `--test`-like flags; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench --bench throughput`");
        return;
    }
    let messages: usize = std::env::var("RUNNEL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    let bytes = input::write_chat_events(&input, messages).expect("writes input");
    println!("input: {messages} chat events, {:.1} MB ({} bytes per event)", bytes as f64 / 1e6, bytes / messages as u64);

    let baseline_out = dir.path().join("baseline.ndjson");
    let engine_out = dir.path().join("engine.ndjson");
    let mut results = Vec::new();
    for round in 0..3 {
        let hand = baseline::run(&input, &baseline_out).expect("baseline runs");
        let one = engine_run(&input, &engine_out, 1);
        let two = engine_run(&input, &engine_out, 2);
        println!(
            "round {round}: hand-written {:>9.0} msg/s | runnel 1 worker {:>9.0} msg/s | runnel 2 workers {:>9.0} msg/s",
            rate(messages, hand),
            rate(messages, one),
            rate(messages, two)
        );
        results.push((hand, one, two));
    }
    let best = |pick: fn(&(Duration, Duration, Duration)) -> Duration| results.iter().map(pick).min().expect("rounds");
    let (hand, one, two) = (best(|r| r.0), best(|r| r.1), best(|r| r.2));
    let same = std::fs::metadata(&baseline_out).map(|m| m.len()).ok() == std::fs::metadata(&engine_out).map(|m| m.len()).ok();
    assert!(same, "the engine's output differs in size from the hand-written loop's");
    println!("best of 3:");
    println!("  hand-written serde_json loop : {:>10.0} msg/s", rate(messages, hand));
    println!("  runnel, 1 worker thread      : {:>10.0} msg/s  ratio {:.2}", rate(messages, one), hand.as_secs_f64() / one.as_secs_f64());
    println!("  runnel, 2 worker threads     : {:>10.0} msg/s  ratio {:.2}", rate(messages, two), hand.as_secs_f64() / two.as_secs_f64());
}
