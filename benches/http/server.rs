//! The receiver both senders post to: a minimal axum server on a runtime of its own that answers
//! every request 200 and counts the messages in it (each chat event has one `"ts":`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use tokio::runtime::Runtime;

/// The running receiver.
pub(crate) struct Receiver {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    messages: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    _runtime: Runtime,
}

async fn receive(State((messages, requests)): State<(Arc<AtomicU64>, Arc<AtomicU64>)>, body: Bytes) -> &'static str {
    let count = memchr::memmem::find_iter(&body, b"\"ts\":").count();
    messages.fetch_add(count as u64, Ordering::Relaxed);
    requests.fetch_add(1, Ordering::Relaxed);
    "ok"
}

impl Receiver {
    /// Starts on a free port of 127.0.0.1, on one worker thread of its own.
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        let messages = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let app = Router::new().route("/hook", post(receive)).with_state((messages.clone(), requests.clone()));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("binds");
        let addr = listener.local_addr().expect("bound");
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self { addr, messages, requests, _runtime: runtime }
    }

    /// Messages and requests received since the last call, resetting both.
    pub(crate) fn take(&self) -> (u64, u64) {
        (self.messages.swap(0, Ordering::Relaxed), self.requests.swap(0, Ordering::Relaxed))
    }
}
