//! The `kinesis_server` source's own metrics, registered on the pipeline's registry when it is
//! built.

use prometheus::{Histogram, IntCounter};
use runnel_engine::PipelineMetrics;

/// Records written to a shard log and answered as stored.
pub const RECORDS_PUT: &str = "runnel_kinesis_server_records_put_total";
/// Records refused with `ProvisionedThroughputExceededException` (their shard's queue was full).
pub const RECORDS_THROTTLED: &str = "runnel_kinesis_server_records_throttled_total";
/// Bytes of data and partition keys stored.
pub const BYTES_PUT: &str = "runnel_kinesis_server_bytes_put_total";
/// Group commits: each writes the appends that waited and, with `fsync = "always"`, syncs once.
pub const GROUP_COMMITS: &str = "runnel_kinesis_server_group_commits_total";
/// `fsync` calls on shard logs.
pub const FSYNCS: &str = "runnel_kinesis_server_fsyncs_total";
/// Time a group commit takes, writes and syncs included.
pub const COMMIT_SECONDS: &str = "runnel_kinesis_server_commit_seconds";

/// The metric handles of one `kinesis_server` node. The mean group size is records put over
/// group commits.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) records_put: IntCounter,
    pub(crate) records_throttled: IntCounter,
    pub(crate) bytes_put: IntCounter,
    pub(crate) group_commits: IntCounter,
    pub(crate) fsyncs: IntCounter,
    pub(crate) commit_seconds: Histogram,
}

impl ServerMetrics {
    /// The handles of node `node`, registering the families on `metrics` if needed.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        let counter = |name, help| metrics.counter_family(name, help, &["node"]).with_label_values(&[node]);
        Self {
            records_put: counter(RECORDS_PUT, "Records a Kinesis endpoint stored and answered as stored."),
            records_throttled: counter(RECORDS_THROTTLED, "Records a Kinesis endpoint refused because their shard's write queue was full."),
            bytes_put: counter(BYTES_PUT, "Bytes of data and partition keys a Kinesis endpoint stored."),
            group_commits: counter(GROUP_COMMITS, "Group commits of a Kinesis endpoint's shard logs."),
            fsyncs: counter(FSYNCS, "fsync calls on a Kinesis endpoint's shard logs."),
            commit_seconds: metrics
                .histogram_family(COMMIT_SECONDS, "Time a Kinesis endpoint's group commit takes.", &["node"])
                .with_label_values(&[node]),
        }
    }
}
