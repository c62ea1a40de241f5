//! The hand-written baseline: an axum server whose handler parses the body (one JSON document,
//! or NDJSON lines) into values, writes them back as NDJSON into one buffer per request, and
//! hands the buffer to a writer task over a bounded channel before answering 202. The writer
//! appends buffers to the file through a `BufWriter`, flushing when no buffer waits. What an
//! expert writes for "take webhooks, append them to a file", with the same crates.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::Server;

struct Baseline {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: std::thread::JoinHandle<()>,
    served: tokio::task::JoinHandle<()>,
}

impl Server for Baseline {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop(self: Box<Self>, rt: &Runtime) {
        let _ = self.stop.send(());
        // The server ends, dropping the router and its sender: the writer drains and ends.
        rt.block_on(self.served).expect("the server ends");
        self.done.join().expect("the writer ends");
    }
}

async fn events(State(tx): State<mpsc::Sender<Vec<u8>>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let ndjson = headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/x-ndjson"));
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut count = 0;
    let mut write = |value: &Value| {
        serde_json::to_writer(&mut out, value).expect("a value writes");
        out.push(b'\n');
        count += 1;
    };
    if ndjson {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Value>(line) {
                Ok(value) => write(&value),
                Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
            }
        }
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => write(&value),
            Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
        }
    }
    if tx.send(out).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    (StatusCode::ACCEPTED, format!("{{\"accepted\":{count}}}"))
}

/// Starts the baseline on `rt`, writing to `file` (emptied first).
pub(crate) fn start(rt: &Runtime, file: &Path) -> Box<dyn Server> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let mut writer = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(file).expect("the file"));
    let done = std::thread::spawn(move || {
        while let Some(buffer) = rx.blocking_recv() {
            writer.write_all(&buffer).expect("writes");
            if rx.is_empty() {
                writer.flush().expect("flushes");
            }
        }
        writer.flush().expect("flushes");
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, served) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("an address");
        let app = Router::new().route("/events", post(events)).with_state(tx);
        let served = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
                .expect("serves");
        });
        (addr, served)
    });
    Box::new(Baseline { addr, stop, done, served })
}
