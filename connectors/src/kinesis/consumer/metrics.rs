//! The `kinesis` source's own metrics, registered when such a node is built.

use prometheus::{IntCounter, IntGauge, IntGaugeVec};
use runnel_engine::PipelineMetrics;

/// Records read from the stream.
pub const RECORDS: &str = "runnel_kinesis_source_records_total";
/// How far behind the stream's newest record each shard's last read was, in milliseconds.
pub const MILLIS_BEHIND: &str = "runnel_kinesis_source_millis_behind_latest";
/// Shards being read (started and not finished).
pub const SHARDS: &str = "runnel_kinesis_source_shards";
/// `GetRecords` calls answered (with records or without).
pub const GET_RECORDS: &str = "runnel_kinesis_source_get_records_total";
/// Calls to the Kinesis API that failed (each is tried again).
pub const REQUEST_ERRORS: &str = "runnel_kinesis_source_request_errors_total";

/// The metric handles of one `kinesis` source.
#[derive(Clone, Debug)]
pub(crate) struct ConsumerMetrics {
    pub(crate) records: IntCounter,
    pub(crate) get_records: IntCounter,
    pub(crate) behind: IntGaugeVec,
    pub(crate) shards: IntGauge,
    pub(crate) request_errors: IntCounter,
}

impl ConsumerMetrics {
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            records: metrics.counter_family(RECORDS, "Records a kinesis source read.", &["node"]).with_label_values(&[node]),
            get_records: metrics
                .counter_family(GET_RECORDS, "GetRecords calls of a kinesis source that were answered.", &["node"])
                .with_label_values(&[node]),
            behind: metrics.gauge_family(
                MILLIS_BEHIND,
                "How far behind the newest record a kinesis source's shard was at its last read.",
                &["node", "shard"],
            ),
            shards: metrics.gauge_family(SHARDS, "Shards a kinesis source is reading.", &["node"]).with_label_values(&[node]),
            request_errors: metrics
                .counter_family(REQUEST_ERRORS, "Calls of a kinesis source to the Kinesis API that failed.", &["node"])
                .with_label_values(&[node]),
        }
    }
}
