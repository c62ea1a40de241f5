//! The `http` sink's own metrics, registered on the pipeline's registry when such a node is
//! built.

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};
use runnel_engine::PipelineMetrics;

/// Requests (attempts, retries included) an `http` sink made, by outcome: `2xx`, `3xx`, `4xx`,
/// `5xx`, or `error` for a connection error or a timeout.
pub const REQUESTS: &str = "runnel_http_sink_requests_total";
/// Attempts an `http` sink made again after a connection error, a timeout, a 5xx or a 429.
pub const RETRIES: &str = "runnel_http_sink_retries_total";
/// Requests an `http` sink has in flight, retries and their waits included.
pub const IN_FLIGHT: &str = "runnel_http_sink_in_flight_requests";
/// Seconds one attempt of an `http` sink took, up to its answer's body.
pub const REQUEST_DURATION: &str = "runnel_http_sink_request_duration_seconds";

/// The metrics of one `http` sink node.
#[derive(Clone, Debug)]
pub(crate) struct HttpMetrics {
    node: String,
    requests: IntCounterVec,
    /// Retries.
    pub(crate) retries: IntCounter,
    /// Requests in flight.
    pub(crate) in_flight: IntGauge,
    /// Attempt durations.
    pub(crate) duration: Histogram,
}

impl HttpMetrics {
    /// The handles of node `node`, registering the families on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            node: node.to_owned(),
            requests: metrics.counter_family(REQUESTS, "Requests an HTTP sink made, by status class.", &["node", "status"]),
            retries: metrics.counter_family(RETRIES, "Requests an HTTP sink retried.", &["node"]).with_label_values(&[node]),
            in_flight: metrics.gauge_family(IN_FLIGHT, "Requests an HTTP sink has in flight.", &["node"]).with_label_values(&[node]),
            duration: metrics.histogram_family(REQUEST_DURATION, "Seconds one attempt of an HTTP sink took.", &["node"]).with_label_values(&[node]),
        }
    }

    /// Counts one attempt with outcome `status` (`2xx`, ..., `error`).
    pub(crate) fn request(&self, status: &str) {
        self.requests.with_label_values(&[self.node.as_str(), status]).inc();
    }
}
