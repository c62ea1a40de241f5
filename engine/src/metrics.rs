//! Prometheus metrics: every name in one place, and per-node handles resolved once at build time
//! so that hot loops never look labels up.
//!
//! Blocks do not count their own input and output: [`crate::Input`] and [`crate::Output`] count
//! per batch. Names follow the Prometheus conventions (`runnel_` prefix, base units, `_total` on
//! counters), which `promtool check metrics` verifies in the test suite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The names of the engine's metric families (components name their own next to their code).
pub mod names {
    /// Messages a node received.
    pub const RECEIVED_MESSAGES: &str = "runnel_node_received_messages_total";
    /// Bytes a node received (the raw size its source read).
    pub const RECEIVED_BYTES: &str = "runnel_node_received_bytes_total";
    /// Messages a node sent, per output port.
    pub const SENT_MESSAGES: &str = "runnel_node_sent_messages_total";
    /// Bytes a node sent, per output port.
    pub const SENT_BYTES: &str = "runnel_node_sent_bytes_total";
    /// Messages a node failed to process or deliver.
    pub const ERRORS: &str = "runnel_node_errors_total";
    /// Messages a node dropped, by reason (`filtered`, `error`, `unread_port`, `edge_full`).
    pub const DROPPED: &str = "runnel_node_dropped_messages_total";
    /// Entries a stateful block holds (open windows, remembered keys).
    pub const STATE_ENTRIES: &str = "runnel_node_state_entries";
    /// Entries a stateful block evicted early because it reached its cap.
    pub const STATE_EVICTIONS: &str = "runnel_node_state_evictions_total";
    /// Seconds a node spent on one batch.
    pub const BATCH_DURATION: &str = "runnel_node_batch_duration_seconds";
    /// Messages waiting in an edge's channel.
    pub const EDGE_QUEUE: &str = "runnel_edge_queued_messages";
    /// Capacity of an edge's channel, in batches.
    pub const EDGE_CAPACITY: &str = "runnel_edge_capacity_batches";
    /// Seconds from a source reading a batch of messages to the final acknowledgement of its last
    /// one: one observation per batch (per message for sources that stamp messages one by one).
    pub const ACK_LATENCY: &str = "runnel_ack_latency_seconds";
    /// Final acknowledgements a source received, by status.
    pub const ACKS: &str = "runnel_source_acknowledgements_total";
    /// Connections an HTTP listener holds that are not (yet) WebSockets: reading a request,
    /// answering one, or kept alive between two.
    pub const LISTENER_PENDING: &str = "runnel_listener_pending_connections";
    /// Connections an HTTP listener closed as soon as it accepted them, by reason (`max_pending`).
    pub const LISTENER_REFUSED: &str = "runnel_listener_connections_refused_total";
    /// Failed `accept()` calls of an HTTP listener, such as `EMFILE` at the open-file limit.
    pub const LISTENER_ACCEPT_ERRORS: &str = "runnel_listener_accept_errors_total";
}

use names::*;

const LATENCY_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// The metric families of one pipeline, registered in its own [`Registry`].
#[derive(Clone, Debug)]
pub struct PipelineMetrics {
    registry: Registry,
    received_messages: IntCounterVec,
    received_bytes: IntCounterVec,
    sent_messages: IntCounterVec,
    sent_bytes: IntCounterVec,
    errors: IntCounterVec,
    dropped: IntCounterVec,
    batch_duration: HistogramVec,
    state_entries: IntGaugeVec,
    state_evictions: IntCounterVec,
    edge_queue: IntGaugeVec,
    edge_capacity: IntGaugeVec,
    ack_latency: HistogramVec,
    acks: IntCounterVec,
    listener_pending: IntGaugeVec,
    listener_refused: IntCounterVec,
    listener_accept_errors: IntCounterVec,
    /// Families that components registered for themselves, by name.
    own: Arc<Mutex<HashMap<&'static str, Family>>>,
}

/// A metric family a component registered (see [`PipelineMetrics::counter_family`]).
#[derive(Clone, Debug)]
enum Family {
    Counter(IntCounterVec),
    Gauge(IntGaugeVec),
    Histogram(HistogramVec),
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition is valid");
    registry.register(Box::new(vec.clone())).expect("metric names are unique");
    vec
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric definition is valid");
    registry.register(Box::new(vec.clone())).expect("metric names are unique");
    vec
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let vec = HistogramVec::new(opts, labels).expect("metric definition is valid");
    registry.register(Box::new(vec.clone())).expect("metric names are unique");
    vec
}

impl PipelineMetrics {
    /// Registers every runnel metric family in a fresh registry.
    ///
    /// # Panics
    /// Never in practice: the definitions are constants checked by the tests.
    pub fn new() -> Self {
        let r = Registry::new();
        Self {
            received_messages: counter(&r, RECEIVED_MESSAGES, "Messages a node received.", &["node"]),
            received_bytes: counter(&r, RECEIVED_BYTES, "Bytes a node received.", &["node"]),
            sent_messages: counter(&r, SENT_MESSAGES, "Messages a node sent.", &["node", "port"]),
            sent_bytes: counter(&r, SENT_BYTES, "Bytes a node sent.", &["node", "port"]),
            errors: counter(&r, ERRORS, "Messages a node failed to process or deliver.", &["node"]),
            dropped: counter(&r, DROPPED, "Messages a node dropped.", &["node", "reason"]),
            batch_duration: histogram(&r, BATCH_DURATION, "Seconds a node spent on one batch.", &["node"]),
            state_entries: gauge(&r, STATE_ENTRIES, "Entries a stateful block holds.", &["node"]),
            state_evictions: counter(&r, STATE_EVICTIONS, "Entries evicted early at the state cap.", &["node"]),
            edge_queue: gauge(&r, EDGE_QUEUE, "Messages waiting in an edge.", &["from", "port", "to"]),
            edge_capacity: gauge(&r, EDGE_CAPACITY, "Capacity of an edge in batches.", &["from", "port", "to"]),
            ack_latency: histogram(
                &r,
                ACK_LATENCY,
                "Seconds from reading a batch of source messages to the final acknowledgement of its last one.",
                &["node"],
            ),
            acks: counter(&r, ACKS, "Final acknowledgements a source received.", &["node", "status"]),
            listener_pending: gauge(&r, LISTENER_PENDING, "Connections a listener holds that are not WebSockets.", &["listener"]),
            listener_refused: counter(&r, LISTENER_REFUSED, "Connections a listener closed as soon as it accepted them.", &["listener", "reason"]),
            listener_accept_errors: counter(&r, LISTENER_ACCEPT_ERRORS, "Failed accept calls of a listener.", &["listener"]),
            own: Arc::default(),
            registry: r,
        }
    }

    /// The counter family `name` of a component's own (a connector's), registered on this
    /// pipeline's registry by the first node that asks for it; later calls share it. Components
    /// call this at build time and keep the handles they resolve from it.
    ///
    /// # Panics
    /// If `name` was registered before with another kind or other labels, or is not a valid
    /// metric name: both are mistakes in the component's code, which its tests catch.
    pub fn counter_family(&self, name: &'static str, help: &str, labels: &[&str]) -> IntCounterVec {
        match self.own_family(name, || Family::Counter(counter(&self.registry, name, help, labels))) {
            Family::Counter(family) => family,
            _ => panic!("metric `{name}` is registered as another kind"),
        }
    }

    /// The gauge family `name` of a component's own, as [`PipelineMetrics::counter_family`].
    ///
    /// # Panics
    /// As [`PipelineMetrics::counter_family`].
    pub fn gauge_family(&self, name: &'static str, help: &str, labels: &[&str]) -> IntGaugeVec {
        match self.own_family(name, || Family::Gauge(gauge(&self.registry, name, help, labels))) {
            Family::Gauge(family) => family,
            _ => panic!("metric `{name}` is registered as another kind"),
        }
    }

    /// The histogram family `name` of a component's own, with the latency buckets of runnel's
    /// own histograms (100 µs to 30 s), as [`PipelineMetrics::counter_family`].
    ///
    /// # Panics
    /// As [`PipelineMetrics::counter_family`].
    pub fn histogram_family(&self, name: &'static str, help: &str, labels: &[&str]) -> HistogramVec {
        match self.own_family(name, || Family::Histogram(histogram(&self.registry, name, help, labels))) {
            Family::Histogram(family) => family,
            _ => panic!("metric `{name}` is registered as another kind"),
        }
    }

    fn own_family(&self, name: &'static str, register: impl FnOnce() -> Family) -> Family {
        // Registration happens at build time only, and a panic inside leaves the map as it was.
        let mut own = self.own.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        own.entry(name).or_insert_with(register).clone()
    }

    /// The registry to expose (see [`crate::serve_metrics`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The handles of one node.
    pub fn node(&self, node: &str) -> NodeMetrics {
        NodeMetrics {
            received_messages: self.received_messages.with_label_values(&[node]),
            received_bytes: self.received_bytes.with_label_values(&[node]),
            errors: self.errors.with_label_values(&[node]),
            dropped_filtered: self.dropped.with_label_values(&[node, "filtered"]),
            dropped_error: self.dropped.with_label_values(&[node, "error"]),
            dropped_unread: self.dropped.with_label_values(&[node, "unread_port"]),
            dropped_full: self.dropped.with_label_values(&[node, "edge_full"]),
            batch_duration: self.batch_duration.with_label_values(&[node]),
            state_entries: self.state_entries.with_label_values(&[node]),
            state_evictions: self.state_evictions.with_label_values(&[node]),
            acks: AckMetrics {
                latency: self.ack_latency.with_label_values(&[node]),
                by_status: [
                    self.acks.with_label_values(&[node, "dropped"]),
                    self.acks.with_label_values(&[node, "delivered"]),
                    self.acks.with_label_values(&[node, "failed"]),
                    self.acks.with_label_values(&[node, "abandoned"]),
                ],
            },
        }
    }

    /// The handles of one output port of a node.
    pub fn port(&self, node: &str, port: &str) -> PortMetrics {
        PortMetrics {
            sent_messages: self.sent_messages.with_label_values(&[node, port]),
            sent_bytes: self.sent_bytes.with_label_values(&[node, port]),
        }
    }

    /// The queue gauge of one edge, with its capacity recorded.
    pub fn edge(&self, from: &str, port: &str, to: &str, capacity: usize) -> IntGauge {
        let cap = i64::try_from(capacity).unwrap_or(i64::MAX);
        self.edge_capacity.with_label_values(&[from, port, to]).set(cap);
        self.edge_queue.with_label_values(&[from, port, to])
    }

    /// The handles of the HTTP listener `listener` (see [`crate::HttpListener`]).
    pub(crate) fn listener(&self, listener: &str) -> ListenerMetrics {
        ListenerMetrics {
            pending: self.listener_pending.with_label_values(&[listener]),
            refused_max_pending: self.listener_refused.with_label_values(&[listener, "max_pending"]),
            accept_errors: self.listener_accept_errors.with_label_values(&[listener]),
        }
    }

    /// Total messages sent by `node` over all ports.
    pub fn sent_total(&self, node: &str) -> u64 {
        self.sum(&self.sent_messages, node)
    }

    /// Total messages received by `node`.
    pub fn received_total(&self, node: &str) -> u64 {
        self.received_messages.with_label_values(&[node]).get()
    }

    /// Total errors of `node`.
    pub fn errors_total(&self, node: &str) -> u64 {
        self.errors.with_label_values(&[node]).get()
    }

    /// Total messages dropped by `node`, for any reason.
    pub fn dropped_total(&self, node: &str) -> u64 {
        self.sum(&self.dropped, node)
    }

    /// The sum of metric `name` (counters and gauges) over its series that carry `label`, or over
    /// all of them with `None`; 0 while it has none. For tests, benchmarks and embedders checking
    /// a run.
    pub fn total(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        self.registry
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric())
            .filter(|m| label.is_none_or(|(key, value)| m.get_label().iter().any(|l| l.name() == key && l.value() == value)))
            .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
            .sum()
    }

    /// The names of every node that has metrics.
    pub fn node_names(&self) -> Vec<String> {
        use prometheus::core::Collector;
        self.received_messages
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .flat_map(|m| m.get_label().iter().filter(|l| l.name() == "node").map(|l| l.value().to_owned()))
            .collect()
    }

    fn sum(&self, vec: &IntCounterVec, node: &str) -> u64 {
        use prometheus::core::Collector;
        vec.collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .filter(|m| m.get_label().iter().any(|l| l.name() == "node" && l.value() == node))
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Metric handles of one node.
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    /// Messages received.
    pub received_messages: IntCounter,
    /// Bytes received.
    pub received_bytes: IntCounter,
    /// Messages that failed.
    pub errors: IntCounter,
    /// Messages dropped by a filter.
    pub dropped_filtered: IntCounter,
    /// Messages dropped after an error (`on_error = "drop"`).
    pub dropped_error: IntCounter,
    /// Messages sent to a port nobody reads.
    pub dropped_unread: IntCounter,
    /// Messages dropped because an edge with `when_full = "drop_newest"` was full.
    pub dropped_full: IntCounter,
    /// Seconds per batch.
    pub batch_duration: Histogram,
    /// Entries held by a stateful block.
    pub state_entries: IntGauge,
    /// Entries evicted at the state cap.
    pub state_evictions: IntCounter,
    /// Acknowledgement outcomes, for sources.
    pub acks: AckMetrics,
}

/// Metric handles of one output port.
#[derive(Clone, Debug)]
pub struct PortMetrics {
    /// Messages sent.
    pub sent_messages: IntCounter,
    /// Bytes sent.
    pub sent_bytes: IntCounter,
}

/// Metric handles of one HTTP listener.
#[derive(Clone, Debug)]
pub(crate) struct ListenerMetrics {
    /// Connections that are not WebSockets.
    pub(crate) pending: IntGauge,
    /// Connections refused at the pending cap.
    pub(crate) refused_max_pending: IntCounter,
    /// Failed accepts.
    pub(crate) accept_errors: IntCounter,
}

/// Acknowledgement metrics of one source.
#[derive(Clone, Debug)]
pub struct AckMetrics {
    latency: Histogram,
    by_status: [IntCounter; 4],
}

impl AckMetrics {
    /// Records a batch of source messages whose last one was acknowledged `latency` after the
    /// batch was read: `finished[s]` of them ended with the status numbered `s + 1`.
    pub(crate) fn observe_batch(&self, finished: [u64; 4], latency: Duration) {
        if finished.iter().all(|&n| n == 0) {
            return;
        }
        self.latency.observe(latency.as_secs_f64());
        for (counter, n) in self.by_status.iter().zip(finished) {
            if n > 0 {
                counter.inc_by(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_registers_and_encodes() {
        let metrics = PipelineMetrics::new();
        let node = metrics.node("n");
        node.received_messages.inc_by(3);
        metrics.port("n", "out").sent_messages.inc_by(2);
        metrics.edge("n", "out", "m", 4).set(1);
        let text = prometheus::TextEncoder::new().encode_to_string(&metrics.registry().gather()).expect("encodes");
        assert!(text.contains("runnel_node_received_messages_total{node=\"n\"} 3"), "{text}");
        assert_eq!(metrics.sent_total("n"), 2);
    }

    #[test]
    fn a_component_family_is_registered_once_and_shared() {
        let metrics = PipelineMetrics::new();
        let a = metrics.counter_family("runnel_test_things_total", "Things.", &["node"]);
        let b = metrics.counter_family("runnel_test_things_total", "Things.", &["node"]);
        a.with_label_values(&["a"]).inc();
        b.with_label_values(&["b"]).inc_by(2);
        assert_eq!(metrics.total("runnel_test_things_total", None), 3.0);
        assert_eq!(metrics.total("runnel_test_things_total", Some(("node", "b"))), 2.0);
    }
}
