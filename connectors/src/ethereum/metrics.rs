//! The `ethereum` source's own metrics, registered when such a node is built.

use prometheus::{IntCounter, IntGauge};
use runnel_engine::PipelineMetrics;

/// Whether the node is connected (1) or not (0).
pub const CONNECTED: &str = "runnel_ethereum_connected";
/// The highest block number the node announced.
pub const HEAD_BLOCK: &str = "runnel_ethereum_head_block";
/// The last block whose messages were all acknowledged.
pub const FINISHED_BLOCK: &str = "runnel_ethereum_finished_block";
/// Reorganisations seen (a new head that did not extend the last one).
pub const REORGS: &str = "runnel_ethereum_reorgs_total";
/// Blocks fetched to fill a gap (after a reconnection or a restart) or follow a new branch.
pub const BACKFILLED: &str = "runnel_ethereum_backfilled_blocks_total";
/// Messages retracted (re-emitted with `removed: true`).
pub const RETRACTED: &str = "runnel_ethereum_retracted_messages_total";

/// The metric handles of one `ethereum` node.
#[derive(Clone, Debug)]
pub(crate) struct ChainMetrics {
    pub(crate) connected: IntGauge,
    pub(crate) head: IntGauge,
    pub(crate) finished: IntGauge,
    pub(crate) reorgs: IntCounter,
    pub(crate) backfilled: IntCounter,
    pub(crate) retracted: IntCounter,
}

impl ChainMetrics {
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        let gauge = |name, help| metrics.gauge_family(name, help, &["node"]).with_label_values(&[node]);
        let counter = |name, help| metrics.counter_family(name, help, &["node"]).with_label_values(&[node]);
        Self {
            connected: gauge(CONNECTED, "Whether an ethereum source is connected to its node."),
            head: gauge(HEAD_BLOCK, "The highest block an ethereum source's node announced."),
            finished: gauge(FINISHED_BLOCK, "The last block whose messages an ethereum source saw acknowledged."),
            reorgs: counter(REORGS, "Chain reorganisations an ethereum source saw."),
            backfilled: counter(BACKFILLED, "Blocks an ethereum source fetched to fill a gap or follow a new branch."),
            retracted: counter(RETRACTED, "Messages an ethereum source retracted after a reorganisation."),
        }
    }
}
