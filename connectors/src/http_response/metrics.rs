//! The `http_response` sink's metrics, registered on the pipeline's registry when one is built.

use prometheus::IntCounter;
use runnel_engine::PipelineMetrics;

/// Replies an `http_response` sink handled, by outcome: `answered` (a waiting request got it)
/// or `unanswerable` (no request waits for it: answered already, timed out, or its client left).
pub const REPLIES: &str = "runnel_http_response_replies_total";

/// The metrics of one `http_response` node.
#[derive(Clone, Debug)]
pub(crate) struct ReplyMetrics {
    /// Replies that answered their request.
    pub(crate) answered: IntCounter,
    /// Replies no request waited for.
    pub(crate) unanswerable: IntCounter,
}

impl ReplyMetrics {
    /// The handles of node `node`, registering the family on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        let family = metrics.counter_family(REPLIES, "Replies an HTTP response sink handled.", &["node", "outcome"]);
        Self { answered: family.with_label_values(&[node, "answered"]), unanswerable: family.with_label_values(&[node, "unanswerable"]) }
    }
}
