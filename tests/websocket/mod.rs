//! The WebSocket connectors against real peers: the `websocket` client source and sink against
//! servers written with Python's `websockets`, and the `websocket_server` against its clients.

mod client;
pub(crate) mod peer;
mod server;

use std::time::Duration;

use runnel_engine::PipelineMetrics;

/// The value of metric `name` for `node` (a counter or a gauge), 0 when it has no series yet.
pub(crate) fn metric(metrics: &PipelineMetrics, name: &str, node: &str) -> f64 {
    metrics.total(name, Some(("node", node)))
}

/// Polls `check` until it holds, for state only observable by looking (a gauge). Fails after 20 s.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
