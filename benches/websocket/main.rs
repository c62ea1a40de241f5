//! WebSocket fan-out: 1 publisher → 1,000 subscribers on one channel, through runnel's
//! `websocket_server` (source → sink, one channel) and through a minimal hand-written
//! tokio-tungstenite broadcast server, measured in the same run with the same clients.
//!
//! `cargo bench --bench websocket` (`RUNNEL_BENCH_SUBSCRIBERS`, default 1,000;
//! `RUNNEL_BENCH_MESSAGES`, default 2,000). Needs about 2 × subscribers open files
//! (`ulimit -n 4096`). For each server it prints:
//! - flat out: delivered messages per second (publisher at most 512 messages ahead of the
//!   slowest subscriber, so nothing is dropped), with p50/p99 latency under that load;
//! - at 100 messages per second: p50/p99 latency from publisher to subscriber.

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod baseline;
mod clients;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use runnel_engine::CancellationToken;
use tokio::runtime::Runtime;

use clients::{Measured, Subscribers, publish};

const PIPELINE: &str = r#"
[sources.ws]
type = "websocket_server"
address = "127.0.0.1:0"
queue = 4096
envelope = false
max_connections = 100000
ping_interval_ms = 600000

[sinks.fanout]
type = "websocket_server"
inputs = ["ws"]
server = "ws"
channel = "{channel}"
history = false
"#;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

/// Starts runnel's server in `server`; returns its address and the token that stops it.
fn start_runnel(server: &Runtime) -> (SocketAddr, CancellationToken) {
    server.block_on(async {
        let pipeline = runnel::Pipeline::from_toml(PIPELINE, &runnel::registry()).expect("a valid pipeline");
        let running = pipeline.start().await.expect("starts");
        let addr = runnel_connectors::websocket_server::take_address(running.resources(), "ws").expect("an address");
        let stop = running.shutdown_token();
        tokio::spawn(running.wait());
        (addr, stop)
    })
}

fn start_baseline(server: &Runtime) -> SocketAddr {
    server.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(baseline::serve(listener));
        addr
    })
}

struct Run {
    flat_out: Measured,
    flat_out_took: Duration,
    paced: Measured,
}

/// Both measurements against the server at `addr`, with fresh subscribers for each.
fn measure(clients: &Runtime, addr: SocketAddr, subscribers: usize, messages: u64) -> Run {
    clients.block_on(async {
        let epoch = Instant::now();
        let sub_url = format!("ws://{addr}/ws?subscribe=bench");
        let pub_url = format!("ws://{addr}/ws");
        let subs = Subscribers::connect(&sub_url, subscribers, epoch, messages).await;
        let start = Instant::now();
        publish(&pub_url, messages, None, epoch, &subs).await;
        let flat_out = subs.finish(Duration::from_secs(60)).await;
        let flat_out_took = start.elapsed();
        let paced_messages = 300;
        let subs = Subscribers::connect(&sub_url, subscribers, epoch, paced_messages).await;
        publish(&pub_url, paced_messages, Some(100.0), epoch, &subs).await;
        let paced = subs.finish(Duration::from_secs(60)).await;
        Run { flat_out, flat_out_took, paced }
    })
}

fn report(name: &str, run: &Run, expected: u64) {
    let rate = run.flat_out.delivered as f64 / run.flat_out_took.as_secs_f64();
    println!(
        "  {name:<34} {rate:>10.0} msg/s delivered ({} of {expected}) | flat out p50 {:>8.2?} p99 {:>8.2?} | at 100 msg/s p50 {:>7.2?} p99 {:>7.2?}",
        run.flat_out.delivered,
        run.flat_out.percentile(0.50),
        run.flat_out.percentile(0.99),
        run.paced.percentile(0.50),
        run.paced.percentile(0.99),
    );
}

fn main() {
    // `cargo test --benches` runs this too; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("websocket: run with `cargo bench --bench websocket`");
        return;
    }
    let subscribers = env("RUNNEL_BENCH_SUBSCRIBERS", 1_000) as usize;
    let messages = env("RUNNEL_BENCH_MESSAGES", 2_000);
    println!("1 publisher → {subscribers} subscribers on one channel, {messages} messages of ~150 bytes");
    let clients = runtime();

    let server = runtime();
    let (addr, stop) = start_runnel(&server);
    let runnel_run = measure(&clients, addr, subscribers, messages);
    stop.cancel();
    drop(server);

    let server = runtime();
    let addr = start_baseline(&server);
    let baseline_run = measure(&clients, addr, subscribers, messages);
    drop(server);

    let expected = messages * subscribers as u64;
    report("hand-written tokio-tungstenite", &baseline_run, expected);
    report("runnel websocket_server", &runnel_run, expected);
    let ratio = (runnel_run.flat_out.delivered as f64 / runnel_run.flat_out_took.as_secs_f64())
        / (baseline_run.flat_out.delivered as f64 / baseline_run.flat_out_took.as_secs_f64());
    println!("  ratio runnel / hand-written (flat-out msg/s): {ratio:.2}");
}
