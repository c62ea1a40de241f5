//! The WebSocket server's own metrics, registered on the pipeline's registry when a
//! `websocket_server` source is built.

use prometheus::{IntCounter, IntCounterVec, IntGauge};
use runnel_engine::PipelineMetrics;

/// Clients connected to a WebSocket server node.
pub const CLIENTS: &str = "runnel_websocket_server_clients";
/// Connections a WebSocket server refused before the upgrade, by reason.
pub const REFUSED: &str = "runnel_websocket_server_refused_total";
/// Clients a WebSocket server disconnected or lost, by reason.
pub const DISCONNECTS: &str = "runnel_websocket_server_disconnects_total";
/// Subscriptions a WebSocket server refused, by reason.
pub const SUBSCRIPTIONS_REFUSED: &str = "runnel_websocket_server_subscriptions_refused_total";
/// Frames a WebSocket server queued for its clients (one per message and subscriber).
pub const FRAMES_SENT: &str = "runnel_websocket_server_frames_sent_total";
/// Frames a WebSocket server dropped instead of writing them, by reason.
pub const FRAMES_DROPPED: &str = "runnel_websocket_server_frames_dropped_total";

/// The metrics of one WebSocket server node.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    node: String,
    /// Clients connected.
    pub(crate) clients: IntGauge,
    /// Frames queued for clients.
    pub(crate) frames_sent: IntCounter,
    /// Frames dropped because a client read too slowly.
    pub(crate) frames_dropped: IntCounter,
    refused: IntCounterVec,
    disconnects: IntCounterVec,
    subscriptions_refused: IntCounterVec,
}

impl ServerMetrics {
    /// The handles of node `node`, registering the families on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        let dropped = metrics.counter_family(FRAMES_DROPPED, "Frames a WebSocket server dropped.", &["node", "reason"]);
        Self {
            node: node.to_owned(),
            clients: metrics.gauge_family(CLIENTS, "Clients connected to a WebSocket server.", &["node"]).with_label_values(&[node]),
            frames_sent: metrics.counter_family(FRAMES_SENT, "Frames a WebSocket server queued for clients.", &["node"]).with_label_values(&[node]),
            frames_dropped: dropped.with_label_values(&[node, "slow_consumer"]),
            refused: metrics.counter_family(REFUSED, "Connections a WebSocket server refused.", &["node", "reason"]),
            disconnects: metrics.counter_family(DISCONNECTS, "Clients a WebSocket server lost.", &["node", "reason"]),
            subscriptions_refused: metrics.counter_family(SUBSCRIPTIONS_REFUSED, "Subscriptions a WebSocket server refused.", &["node", "reason"]),
        }
    }

    /// Connections refused for `reason` (`unauthorized`, `max_connections`).
    pub(crate) fn refused(&self, reason: &str) -> IntCounter {
        self.refused.with_label_values(&[&self.node, reason])
    }

    /// Subscriptions refused for `reason` (`max_subscriptions`, `private`, `invalid_name`).
    pub(crate) fn subscriptions_refused(&self, reason: &str) -> IntCounter {
        self.subscriptions_refused.with_label_values(&[&self.node, reason])
    }

    /// Clients lost for `reason` (`closed`, `slow_consumer`, `timeout`, `error`, `shutdown`).
    pub(crate) fn disconnects(&self, reason: &str) -> IntCounter {
        self.disconnects.with_label_values(&[&self.node, reason])
    }
}
