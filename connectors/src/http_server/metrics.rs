//! The HTTP server's own metrics, registered on the pipeline's registry when an `http_server`
//! source is built.

use prometheus::{IntCounter, IntCounterVec, IntGauge};
use runnel_engine::PipelineMetrics;

/// Requests an HTTP server answered, by route (its configured path; `none` for a path no route
/// takes) and status code.
pub const REQUESTS: &str = "runnel_http_server_requests_total";
/// Requests an HTTP server is handling.
pub const IN_FLIGHT: &str = "runnel_http_server_requests_in_flight";

/// The metrics of one HTTP server node.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    node: String,
    requests: IntCounterVec,
    /// Requests being handled.
    pub(crate) in_flight: IntGauge,
}

impl ServerMetrics {
    /// The handles of node `node`, registering the families on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            node: node.to_owned(),
            requests: metrics.counter_family(REQUESTS, "Requests an HTTP server answered.", &["node", "route", "status"]),
            in_flight: metrics.gauge_family(IN_FLIGHT, "Requests an HTTP server is handling.", &["node"]).with_label_values(&[node]),
        }
    }

    /// The counter of requests to `route` answered with `status`, for a status counted often.
    pub(crate) fn counter(&self, route: &str, status: u16) -> IntCounter {
        self.requests.with_label_values(&[&self.node, route, &status.to_string()])
    }

    /// Counts a request to `route` answered with `status`.
    pub(crate) fn answered(&self, route: &str, status: u16) {
        self.requests.with_label_values(&[&self.node, route, &status.to_string()]).inc();
    }
}
