//! The Kafka source's and sink's own metrics, registered on the pipeline's registry when a
//! Kafka node is built, so only pipelines with Kafka nodes have them.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use runnel_engine::PipelineMetrics;

/// Messages a Kafka source's group has not committed yet in a partition (high watermark minus
/// committed offset), as librdkafka last reported it.
pub const CONSUMER_LAG: &str = "runnel_kafka_consumer_lag_messages";
/// Offset commits a Kafka source made, by result (`ok`, `error`).
pub const COMMITS: &str = "runnel_kafka_commits_total";
/// Consumer-group rebalances a Kafka source went through, by event (`assign`, `revoke`).
pub const REBALANCES: &str = "runnel_kafka_rebalances_total";
/// Times a Kafka source rewound a partition to re-read a message that failed downstream.
pub const REWINDS: &str = "runnel_kafka_partition_rewinds_total";
/// Messages a Kafka sink handed to the producer and still waits a delivery report for.
pub const PRODUCER_IN_FLIGHT: &str = "runnel_kafka_producer_in_flight_messages";

/// Kafka metrics of one node. Series are created on first use; resolve handles outside hot
/// loops.
#[derive(Clone, Debug)]
pub(crate) struct KafkaMetrics {
    node: String,
    lag: IntGaugeVec,
    commits: IntCounterVec,
    rebalances: IntCounterVec,
    rewinds: IntCounterVec,
    in_flight: IntGaugeVec,
}

impl KafkaMetrics {
    /// The handles of node `node`, registering the families on `metrics` if no Kafka node did.
    pub(crate) fn register(metrics: &PipelineMetrics, node: &str) -> Self {
        Self {
            node: node.to_owned(),
            lag: metrics.gauge_family(CONSUMER_LAG, "Messages not yet committed in a partition.", &["node", "topic", "partition"]),
            commits: metrics.counter_family(COMMITS, "Offset commits a Kafka source made.", &["node", "result"]),
            rebalances: metrics.counter_family(REBALANCES, "Consumer-group rebalances of a Kafka source.", &["node", "event"]),
            rewinds: metrics.counter_family(REWINDS, "Partitions rewound after a failed message.", &["node"]),
            in_flight: metrics.gauge_family(PRODUCER_IN_FLIGHT, "Messages awaiting a delivery report.", &["node"]),
        }
    }

    /// The consumer lag of one partition.
    pub(crate) fn lag(&self, topic: &str, partition: i32) -> IntGauge {
        self.lag.with_label_values(&[self.node.as_str(), topic, &partition.to_string()])
    }

    /// Forgets the lag of a partition the source no longer owns.
    pub(crate) fn remove_lag(&self, topic: &str, partition: i32) {
        let _ = self.lag.remove_label_values(&[self.node.as_str(), topic, &partition.to_string()]);
    }

    /// Offset commits with `result` (`ok`, `error`).
    pub(crate) fn commits(&self, result: &str) -> IntCounter {
        self.commits.with_label_values(&[self.node.as_str(), result])
    }

    /// Rebalance events (`assign`, `revoke`).
    pub(crate) fn rebalances(&self, event: &str) -> IntCounter {
        self.rebalances.with_label_values(&[self.node.as_str(), event])
    }

    /// Partition rewinds.
    pub(crate) fn rewinds(&self) -> IntCounter {
        self.rewinds.with_label_values(&[self.node.as_str()])
    }

    /// Messages a sink awaits delivery reports for.
    pub(crate) fn in_flight(&self) -> IntGauge {
        self.in_flight.with_label_values(&[self.node.as_str()])
    }
}
