//! The `http` sink's and `http` block's own metrics, registered on the pipeline's registry when
//! such a node is built: the same four families for each, under its own prefix, and the block's
//! cache counters.

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

/// Requests (attempts, retries included) an `http` block made, by outcome, as [`REQUESTS`].
pub const BLOCK_REQUESTS: &str = "runnel_http_block_requests_total";
/// Attempts an `http` block made again, as [`RETRIES`].
pub const BLOCK_RETRIES: &str = "runnel_http_block_retries_total";
/// Calls an `http` block has in flight, retries and their waits included.
pub const BLOCK_IN_FLIGHT: &str = "runnel_http_block_in_flight_requests";
/// Seconds one attempt of an `http` block took, up to its answer's body.
pub const BLOCK_REQUEST_DURATION: &str = "runnel_http_block_request_duration_seconds";
/// Messages an `http` block answered from its cache, without a request.
pub const BLOCK_CACHE_HITS: &str = "runnel_http_block_cache_hits_total";
/// Messages with a cache key that an `http` block found no live entry for.
pub const BLOCK_CACHE_MISSES: &str = "runnel_http_block_cache_misses_total";

/// The names and help texts of one kind of node's request metrics.
#[derive(Debug)]
pub(crate) struct Families {
    requests: &'static str,
    retries: &'static str,
    in_flight: &'static str,
    duration: &'static str,
    /// What makes the requests, in the help texts: `an HTTP sink`.
    who: &'static str,
}

/// The `http` sink's families.
pub(crate) const SINK: Families =
    Families { requests: REQUESTS, retries: RETRIES, in_flight: IN_FLIGHT, duration: REQUEST_DURATION, who: "an HTTP sink" };

/// The `http` block's families.
pub(crate) const BLOCK: Families =
    Families { requests: BLOCK_REQUESTS, retries: BLOCK_RETRIES, in_flight: BLOCK_IN_FLIGHT, duration: BLOCK_REQUEST_DURATION, who: "an HTTP block" };

/// The outcomes of an attempt, as `status` labels.
const OUTCOMES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "error"];

/// The request metrics of one `http` sink or block node.
#[derive(Clone, Debug)]
pub(crate) struct HttpMetrics {
    node: String,
    requests: IntCounterVec,
    /// The counters of `requests` by outcome, resolved on first use (a series appears once it
    /// counts something).
    outcomes: std::sync::Arc<[std::sync::OnceLock<IntCounter>; OUTCOMES.len()]>,
    /// Retries.
    pub(crate) retries: IntCounter,
    /// Requests in flight.
    pub(crate) in_flight: IntGauge,
    /// Attempt durations.
    pub(crate) duration: Histogram,
}

impl HttpMetrics {
    /// The handles of node `node`, registering `families` on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str, families: &Families) -> Self {
        let who = families.who;
        Self {
            node: node.to_owned(),
            outcomes: std::sync::Arc::default(),
            requests: metrics.counter_family(families.requests, &format!("Requests {who} made, by status class."), &["node", "status"]),
            retries: metrics.counter_family(families.retries, &format!("Requests {who} retried."), &["node"]).with_label_values(&[node]),
            in_flight: metrics.gauge_family(families.in_flight, &format!("Requests {who} has in flight."), &["node"]).with_label_values(&[node]),
            duration: metrics
                .histogram_family(families.duration, &format!("Seconds one attempt of {who} took."), &["node"])
                .with_label_values(&[node]),
        }
    }

    /// Counts one attempt with outcome `status` (`2xx`, ..., `error`).
    pub(crate) fn request(&self, status: &str) {
        match OUTCOMES.iter().position(|outcome| *outcome == status) {
            Some(at) => self.outcomes[at].get_or_init(|| self.requests.with_label_values(&[self.node.as_str(), status])).inc(),
            None => self.requests.with_label_values(&[self.node.as_str(), status]).inc(),
        }
    }
}

/// The `http` block's cache counters.
#[derive(Clone, Debug)]
pub(crate) struct CacheMetrics {
    /// Messages answered from the cache.
    pub(crate) hits: IntCounter,
    /// Messages with a key and no live entry.
    pub(crate) misses: IntCounter,
}

impl CacheMetrics {
    /// The handles of node `node`.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            hits: metrics.counter_family(BLOCK_CACHE_HITS, "Messages an HTTP block answered from its cache.", &["node"]).with_label_values(&[node]),
            misses: metrics
                .counter_family(BLOCK_CACHE_MISSES, "Messages an HTTP block found no live cache entry for.", &["node"])
                .with_label_values(&[node]),
        }
    }
}
