//! Ethereum event logs decoded with an ABI: logs per second that the `ethereum` source emits,
//! from a local node replaying recorded blocks at full speed (benches/ethereum/node.rs), beside a
//! hand-written tokio-tungstenite client that fetches and decodes the same logs, in the same
//! run.
//!
//! `cargo bench --bench ethereum` (`RUNNEL_BENCH_BLOCKS`, default 500; `RUNNEL_BENCH_LOGS`, logs
//! per block, default 100). Three rounds each, alternating; the median is printed with the
//! ratio runnel / baseline.

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod baseline;
mod node;

use std::time::{Duration, Instant};

const ABI: &str = r#"[{"type":"event","name":"Transfer","anonymous":false,"inputs":[
    {"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},
    {"name":"value","type":"uint256","indexed":false}]}]"#;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The source from block 1 to the head, into a memory sink: how long until every log arrived.
async fn runnel_round(addr: std::net::SocketAddr, abi: &std::path::Path, total: u64) -> Duration {
    let toml = format!(
        "[sources.chain]\ntype = \"ethereum\"\nurl = \"ws://{addr}\"\nabi = \"{}\"\nfrom_block = 1\n\n[sinks.out]\ntype = \"memory\"\ninputs = [\"chain\"]\n",
        abi.display()
    );
    let running = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("valid").start().await.expect("starts");
    let mut out = runnel_connectors::take_output(running.resources(), "out").expect("the sink");
    let started = Instant::now();
    let mut count = 0;
    while count < total {
        let message = out.recv().await.expect("a log");
        assert!(message.value().get("args").is_some(), "decoded");
        count += 1;
    }
    let took = started.elapsed();
    running.shutdown_token().cancel();
    running.wait().await.expect("stops");
    took
}

fn main() {
    let (blocks, logs) = (env("RUNNEL_BENCH_BLOCKS", 500), env("RUNNEL_BENCH_LOGS", 100));
    let total = blocks * logs;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let dir = tempfile::tempdir().expect("a folder");
    let abi_file = dir.path().join("erc20.json");
    std::fs::write(&abi_file, ABI).expect("writes");
    let abi: alloy_json_abi::JsonAbi = serde_json::from_str(ABI).expect("an ABI");
    let event = abi.events().next().expect("Transfer").clone();
    let addr = rt.block_on(node::serve(blocks, logs));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(rt.block_on(runnel_round(addr, &abi_file, total)));
        let started = Instant::now();
        assert_eq!(rt.block_on(baseline::run(addr, blocks, &event)), total);
        theirs.push(started.elapsed());
    }
    ours.sort();
    theirs.sort();
    let rate = |took: Duration| total as f64 / took.as_secs_f64();
    println!(
        "ethereum logs ({blocks} blocks × {logs} Transfer logs, ABI-decoded): runnel {:.0} logs/s | baseline {:.0} logs/s | ratio {:.2}",
        rate(ours[1]),
        rate(theirs[1]),
        rate(ours[1]) / rate(theirs[1])
    );
}
