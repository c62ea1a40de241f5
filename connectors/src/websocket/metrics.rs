//! The WebSocket client source's and sink's own metrics, registered on the pipeline's registry
//! when such a node is built.

use prometheus::{IntCounter, IntGauge};
use runnel_engine::PipelineMetrics;

/// Whether a WebSocket client node is connected (1) or not (0).
pub const CONNECTED: &str = "runnel_websocket_connected";
/// Times a WebSocket client node connected again after losing its connection.
pub const RECONNECTS: &str = "runnel_websocket_reconnects_total";

/// The connection metrics of one WebSocket client node.
#[derive(Clone, Debug)]
pub(crate) struct ClientMetrics {
    /// 1 while connected, else 0.
    pub(crate) connected: IntGauge,
    /// Reconnections.
    pub(crate) reconnects: IntCounter,
}

impl ClientMetrics {
    /// The handles of node `node`, registering the families on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            connected: metrics.gauge_family(CONNECTED, "Whether a WebSocket client node is connected.", &["node"]).with_label_values(&[node]),
            reconnects: metrics.counter_family(RECONNECTS, "Times a WebSocket client node reconnected.", &["node"]).with_label_values(&[node]),
        }
    }
}
