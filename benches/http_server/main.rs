//! Webhooks in: requests per second and messages per second through runnel's `http_server`
//! source into a `file` sink, beside a hand-written axum server that parses the same bodies and
//! writes the same NDJSON file, measured in the same run with the same clients.
//!
//! `cargo bench --bench http_server` (`RUNNEL_BENCH_REQUESTS`, default 20,000 per round;
//! `RUNNEL_BENCH_CLIENTS`, default 32 concurrent keep-alive connections). Two bodies: one
//! JSON message per request, and 100 messages of NDJSON per request. Each server answers 202
//! once the messages are on their way to the file (runnel's `ack = "accepted"`); a round ends
//! when the last answer came, and the file is checked to hold every message afterwards. Three
//! rounds alternate the servers; the median round is printed with the ratio runnel / baseline.

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod baseline;
mod load;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::runtime::Runtime;

/// One kind of request body.
#[derive(Clone, Copy)]
struct Body {
    name: &'static str,
    messages: usize,
}

const BODIES: [Body; 2] = [Body { name: "1 JSON message", messages: 1 }, Body { name: "100 NDJSON messages", messages: 100 }];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("a runtime")
}

/// A server under test: where to post, and how to stop it once a round is over.
trait Server {
    fn addr(&self) -> SocketAddr;
    /// Stops it and waits until everything it accepted is in its file.
    fn stop(self: Box<Self>, rt: &Runtime);
}

struct Runnel {
    addr: SocketAddr,
    running: Option<runnel::RunningPipeline>,
    stop: runnel_engine::CancellationToken,
}

impl Server for Runnel {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop(mut self: Box<Self>, rt: &Runtime) {
        self.stop.cancel();
        let running = self.running.take().expect("running");
        rt.block_on(running.wait()).expect("the pipeline ends cleanly");
    }
}

fn start_runnel(rt: &Runtime, file: &Path) -> Box<dyn Server> {
    let toml = format!(
        r#"
[sources.in]
type = "http_server"
address = "127.0.0.1:0"
max_concurrent_requests = 1024
max_body_bytes = 1048576

[sinks.out]
type = "file"
inputs = ["in"]
path = "{}"
append = false
"#,
        file.display()
    );
    rt.block_on(async {
        let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline");
        let running = pipeline.start().await.expect("starts");
        let addr = runnel_connectors::http_server::take_address(running.resources(), "in").expect("an address");
        let stop = running.shutdown_token();
        Box::new(Runnel { addr, running: Some(running), stop }) as Box<dyn Server>
    })
}

/// Requests per second and messages per second of one round.
#[derive(Clone, Copy, Debug)]
struct Round {
    requests_per_sec: f64,
    messages_per_sec: f64,
}

fn round(server_rt: &Runtime, client_rt: &Runtime, server: Box<dyn Server>, file: &Path, body: Body, requests: usize, clients: usize) -> Round {
    let addr = server.addr();
    let took = client_rt.block_on(load::post_all(addr, body.messages, requests, clients));
    server.stop(server_rt);
    let lines = std::fs::read(file).expect("the file").iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, requests * body.messages, "every accepted message is in the file");
    Round { requests_per_sec: requests as f64 / took.as_secs_f64(), messages_per_sec: (requests * body.messages) as f64 / took.as_secs_f64() }
}

fn median(mut rounds: Vec<Round>) -> Round {
    rounds.sort_by(|a, b| a.messages_per_sec.total_cmp(&b.messages_per_sec));
    rounds[rounds.len() / 2]
}

fn main() {
    let requests = env("RUNNEL_BENCH_REQUESTS", 20_000);
    let clients = env("RUNNEL_BENCH_CLIENTS", 32);
    let server_rt = runtime(2);
    let client_rt = runtime(2);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("out.ndjson");
    println!("http_server → file: {requests} requests per round from {clients} connections, 3 rounds each, median");
    for body in BODIES {
        // Fewer requests for big bodies: the same number of messages would take long.
        let requests = if body.messages > 1 { (requests / 10).max(100) } else { requests };
        let mut runnel_rounds = Vec::new();
        let mut baseline_rounds = Vec::new();
        for _ in 0..3 {
            let server = start_runnel(&server_rt, &file);
            runnel_rounds.push(round(&server_rt, &client_rt, server, &file, body, requests, clients));
            let server = baseline::start(&server_rt, &file);
            baseline_rounds.push(round(&server_rt, &client_rt, server, &file, body, requests, clients));
        }
        let (ours, theirs) = (median(runnel_rounds), median(baseline_rounds));
        println!(
            "{:>20}: runnel {:>8.0} req/s {:>9.0} msg/s | baseline {:>8.0} req/s {:>9.0} msg/s | ratio {:.2}",
            body.name,
            ours.requests_per_sec,
            ours.messages_per_sec,
            theirs.requests_per_sec,
            theirs.messages_per_sec,
            ours.messages_per_sec / theirs.messages_per_sec
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
