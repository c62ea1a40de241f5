//! The `http` sink's throughput: an NDJSON file's chat events posted to a local receiver, through
//! runnel (`file` source → `http` sink) and through a hand-written tuned reqwest sender, measured
//! in the same run against the same receiver:
//!
//! - `batched`: 100 events per request, as a JSON array;
//! - `single`: one request per event.
//!
//! Both send at most 16 requests at once. `cargo bench --bench http` (`RUNNEL_BENCH_MESSAGES`,
//! default 200,000 batched and a fifth of that single). Prints messages per second, best of 5,
//! and runnel's ratio to the baseline.

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod baseline;
#[path = "../throughput/input.rs"]
mod input;
mod server;

use std::path::Path;
use std::time::{Duration, Instant};

use server::Receiver;

const CONCURRENCY: usize = 16;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

fn runnel_run(input: &Path, url: &str, batch: usize) -> Duration {
    let pipeline = format!(
        "[sources.in]\ntype = \"file\"\npath = {:?}\n[sinks.hook]\ntype = \"http\"\ninputs = [\"in\"]\nurl = \"{url}\"\nbatch = {{ max_events = {batch}, max_bytes = 10485760, timeout_ms = 1000 }}\nrequest = {{ concurrency = {CONCURRENCY} }}\n",
        input.display().to_string()
    );
    runtime().block_on(async {
        let pipeline = runnel::Pipeline::from_toml(&pipeline, &runnel::registry()).expect("a valid pipeline");
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

fn baseline_run(input: &Path, url: &str, batch: usize) -> Duration {
    let (input, url) = (input.to_owned(), url.to_owned());
    runtime().block_on(async {
        let start = Instant::now();
        // On a worker, as runnel's sink runs: not on the thread that blocks on the runtime.
        tokio::spawn(async move { baseline::run(&input, &url, batch, CONCURRENCY).await }).await.expect("the sender ran");
        start.elapsed()
    })
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("http: run with `cargo bench --bench http`");
        return;
    }
    let messages: usize = std::env::var("RUNNEL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let receiver = Receiver::start();
    let url = format!("http://{}/hook", receiver.addr);
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, batch, count) in [("batched", 100, messages), ("single", 1, messages / 5)] {
        let input = dir.path().join(format!("{name}.ndjson"));
        input::write_chat_events(&input, count).expect("writes the input");
        let mut best = [Duration::MAX; 2];
        for _ in 0..5 {
            let runs = [baseline_run(&input, &url, batch), runnel_run(&input, &url, batch)];
            for (best, run) in best.iter_mut().zip(runs) {
                *best = (*best).min(run);
            }
            let (received, requests) = receiver.take();
            assert_eq!(received, 2 * count as u64, "{name}: every message reached the receiver, from both");
            assert!(requests as usize >= 2 * count.div_ceil(batch), "{name}: {requests} requests");
        }
        let [hand, engine] = best.map(|took| count as f64 / took.as_secs_f64());
        println!("{name} ({count} events, {batch} per request, {CONCURRENCY} requests at once; best of 5, messages per second):");
        println!("  hand-written reqwest: {hand:>10.0}");
        println!("  runnel http sink:     {engine:>10.0}  ({:.2}x)", engine / hand);
    }
}
