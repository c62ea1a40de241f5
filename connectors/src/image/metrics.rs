//! The `image` block's own metrics, registered on the pipeline's registry when such a node is
//! built.

use prometheus::{Histogram, IntCounterVec};
use runnel_engine::PipelineMetrics;

/// Requests an `image` block made to its service, by `kind` (`upload`, `variant`) and outcome
/// (`2xx`, `3xx`, `4xx`, `5xx`, or `error` when there was no answer).
pub const REQUESTS: &str = "runnel_image_requests_total";
/// Seconds one request of an `image` block took, up to its answer's body.
pub const REQUEST_DURATION: &str = "runnel_image_request_duration_seconds";

/// The metrics of one `image` node.
#[derive(Clone, Debug)]
pub(crate) struct ImageMetrics {
    node: String,
    requests: IntCounterVec,
    /// Request durations.
    pub(crate) duration: Histogram,
}

impl ImageMetrics {
    /// The handles of node `node`, registering the families on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            node: node.to_owned(),
            requests: metrics.counter_family(
                REQUESTS,
                "Requests an image block made to its service, by kind and status class.",
                &["node", "kind", "status"],
            ),
            duration: metrics.histogram_family(REQUEST_DURATION, "Seconds one request of an image block took.", &["node"]).with_label_values(&[node]),
        }
    }

    /// Counts one request of `kind` answered with `status` (`None`: no answer).
    pub(crate) fn request(&self, kind: &str, status: Option<u16>) {
        let class = match status {
            None => "error",
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(_) => "5xx",
        };
        self.requests.with_label_values(&[self.node.as_str(), kind, class]).inc();
    }
}
