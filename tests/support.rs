//! Shared harness: pipelines from TOML, memory endpoints, a sink that stalls on purpose, the
//! real binary, and plain HTTP.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use runnel::Pipeline;
use runnel_engine::{AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, RunContext, async_trait};
use serde_json::Value;
use tokio::sync::Semaphore;

/// A pipeline from TOML with no environment, panicking with the diagnostics if invalid.
pub fn pipeline(toml: &str) -> Pipeline {
    Pipeline::parse(toml, None, &runnel::registry(), |_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `toml` to the end and returns what its `memory` sink called `out` received.
pub async fn run_to_end(toml: &str) -> Vec<Value> {
    let running = pipeline(toml).start().await.expect("starts");
    let output = runnel_connectors::take_output(running.resources(), "out").expect("a memory sink called `out`");
    let (values, result) = tokio::join!(output.collect_values(), running.wait());
    result.expect("runs cleanly");
    values
}

/// A sink that reads one batch per permit its [`Gate`] hands out, acknowledging each as delivered.
#[derive(Debug, Clone)]
pub struct StallingSink {
    pub gate: Arc<Semaphore>,
    pub received: Arc<AtomicUsize>,
}

impl StallingSink {
    pub fn new() -> Self {
        Self { gate: Arc::new(Semaphore::new(0)), received: Arc::new(AtomicUsize::new(0)) }
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl BlockConfig for StallingSink {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for StallingSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        loop {
            let permit = self.gate.acquire().await.map_err(BlockError::other)?;
            permit.forget();
            let Some(batch) = cx.input.next().await else { return Ok(()) };
            self.received.fetch_add(batch.len(), Ordering::SeqCst);
            runnel_engine::ack_batch(batch, AckStatus::Delivered);
        }
    }
}

/// Lets the scheduler run every task that can make progress (current-thread runtime).
pub async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// The `runnel` binary built for these tests.
pub fn runnel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runnel"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Validates every `toml` code block of the Markdown file `doc` (relative to the repository
/// root) as a complete pipeline without warnings, panicking with the example and the diagnostics
/// when one is not. Returns the file's text and how many examples it holds.
pub fn validate_doc_examples(doc: &str) -> (String, usize) {
    let text = std::fs::read_to_string(root().join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let registry = runnel::registry();
    let mut examples = 0;
    for block in text.split("```toml\n").skip(1) {
        let example = block.split("```").next().unwrap_or_default();
        let pipeline = Pipeline::parse(example, None, &registry, |_| None).unwrap_or_else(|e| panic!("{doc} example:\n{example}\n{e}"));
        let warnings: Vec<String> = pipeline.warnings().iter().map(ToString::to_string).collect();
        assert!(warnings.is_empty(), "{doc} example:\n{example}\n{warnings:?}");
        examples += 1;
    }
    (text, examples)
}

/// A free TCP port on 127.0.0.1.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("has an address")
}

/// An address that refuses connections for as long as the returned socket lives: it is bound
/// but never listens, so no other test can take its port, as one could take `free_addr`'s.
pub fn refusing_addr() -> (socket2::Socket, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("binds");
    let addr = socket.local_addr().expect("has an address").as_socket().expect("an IP address");
    (socket, addr)
}

/// A plain HTTP/1.0 GET: (status, body), or `None` if nothing listens.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Polls `check` until it returns `Some`, for events another process signals only by its
/// state (a port that starts answering). Fails after `seconds`.
pub fn wait_for<T>(what: &str, seconds: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// As [`wait_for`], from async code: polls `check` while the runtime goes on with its tasks.
pub async fn wait_until<T>(what: &str, seconds: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the test suite must have every peer (in CI, a missing peer is a failure).
pub fn peers_required() -> bool {
    std::env::var_os("CI").is_some()
}

/// `promtool check metrics` reports nothing on `exposition`: no parse error, no lint. Skipped
/// (with a note) when promtool is missing outside CI; in CI a missing promtool fails.
pub fn assert_promtool_accepts(exposition: &str) {
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut check) = spawned else {
        assert!(!peers_required(), "promtool is missing; scripts/test.sh installs it");
        eprintln!("skipping the promtool check: promtool is not installed (run scripts/test.sh)");
        return;
    };
    write!(check.stdin.take().expect("stdin"), "{exposition}").expect("writes");
    let out = check.wait_with_output().expect("finishes");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}");
}

/// A webhook receiver on a free port: every JSON body posted to `path`, with whether it carried a
/// `X-Hub-Signature-256: sha256=...` signature.
pub async fn webhook(path: &'static str) -> (std::net::SocketAddr, tokio::sync::mpsc::UnboundedReceiver<(serde_json::Value, bool)>) {
    use axum::routing::post;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        path,
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
            let signed = headers.get("x-hub-signature-256").is_some_and(|s| s.as_bytes().starts_with(b"sha256="));
            let _ = tx.send((serde_json::from_slice(&body).expect("JSON"), signed));
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    (addr, rx)
}
