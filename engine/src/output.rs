//! A node's output ports: fan-out to every edge of a port, the `errors` port, and the
//! `on_error` policy for failures that no edge reads.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ack::AckStatus;
use crate::channel::{Closed, EdgeSender, Sent, ack_batch};
use crate::error::BlockError;
use crate::log_limit::LogLimiter;
use crate::message::{Batch, Message, Origin};
use crate::metrics::{NodeMetrics, PortMetrics};

/// The name of the default output port, used when an input names a node without a port.
pub const DEFAULT_PORT: &str = "out";
/// The name of the port every block and source has for failed messages.
pub const ERRORS_PORT: &str = "errors";

/// Index of an output port, resolved once with [`Output::port_id`].
pub type PortId = usize;

/// What a node does with a failed message when nothing reads its `errors` port.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Drop the message: count it (`runnel_node_dropped_messages_total{reason="error"}`), log it
    /// at most every few seconds, and acknowledge it as dropped. The default.
    #[default]
    Drop,
    /// Stop the pipeline with an error that names the node and the message's origin.
    Fail,
}

#[derive(Debug)]
pub(crate) struct PortOut {
    pub(crate) name: Arc<str>,
    pub(crate) edges: Vec<EdgeSender>,
    pub(crate) metrics: PortMetrics,
}

/// A node's output side.
#[derive(Debug)]
pub struct Output {
    node: Arc<str>,
    ports: Vec<PortOut>,
    errors: PortOut,
    on_error: OnError,
    metrics: NodeMetrics,
    /// Dropped failures are logged at most every few seconds; the ones in between are counted.
    log_limit: LogLimiter,
}

impl Output {
    pub(crate) fn new(node: Arc<str>, ports: Vec<PortOut>, errors: PortOut, on_error: OnError, metrics: NodeMetrics) -> Self {
        Self { node, ports, errors, on_error, metrics, log_limit: LogLimiter::default() }
    }

    /// The node's name.
    pub fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// The id of the output port called `name`, if the node declared it.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports.iter().position(|p| &*p.name == name)
    }

    /// How many output ports the node declared.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// Whether anything reads the port.
    pub fn is_connected(&self, port: PortId) -> bool {
        self.ports.get(port).is_some_and(|p| !p.edges.is_empty())
    }

    /// Takes the edges of `port` away, for a chain that hands the port's messages to the next
    /// block directly.
    pub(crate) fn detach(&mut self, port: PortId) -> Vec<EdgeSender> {
        self.ports.get_mut(port).map(|p| std::mem::take(&mut p.edges)).unwrap_or_default()
    }

    /// Counts `batch` as sent on `port` without sending it (a chain hands it on directly).
    /// Counts `messages` of `bytes` as sent on `port` without sending them (a chain hands them
    /// to its next block directly).
    pub(crate) fn count_sent_n(&self, port: PortId, messages: u64, bytes: u64) {
        if let Some(out) = self.ports.get(port) {
            out.metrics.sent_messages.inc_by(messages);
            out.metrics.sent_bytes.inc_by(bytes);
        }
    }

    /// Whether anything reads the `errors` port (otherwise failures follow `on_error`).
    pub fn errors_connected(&self) -> bool {
        !self.errors.edges.is_empty()
    }

    /// Sends `batch` on the first declared port (`out` for most nodes).
    ///
    /// # Errors
    /// [`Closed`] when a downstream node has stopped.
    pub async fn send(&mut self, batch: Batch) -> Result<(), Closed> {
        self.send_to(0, batch).await
    }

    /// Sends `batch` on `port`, to every edge that reads it, waiting while an edge is full.
    ///
    /// # Errors
    /// [`Closed`] when a downstream node has stopped.
    pub async fn send_to(&mut self, port: PortId, batch: Batch) -> Result<(), Closed> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some(out) = self.ports.get(port) else {
            self.metrics.dropped_unread.inc_by(batch.len() as u64);
            ack_batch(batch, AckStatus::Dropped);
            return Ok(());
        };
        send_port(out, batch, &self.metrics).await
    }

    /// Records that `count` messages were dropped on purpose (filtered out). The caller
    /// acknowledges them, usually by calling [`Message::ack`] with [`AckStatus::Dropped`].
    pub fn count_filtered(&self, count: usize) {
        self.metrics.dropped_filtered.inc_by(count as u64);
    }

    /// Records that `count` state entries were evicted at the block's cap.
    pub fn count_evicted(&self, count: usize) {
        self.metrics.state_evictions.inc_by(count as u64);
    }

    /// Handles messages that failed in this node: to the `errors` port if anything reads it
    /// (as error records, see [`error_record`]), else as the `on_error` policy says.
    ///
    /// # Errors
    /// [`BlockError::MessageFailed`] under `on_error = "fail"`; [`BlockError::DownstreamClosed`]
    /// if the errors port's reader stopped.
    pub async fn fail(&mut self, failures: Vec<(Message, String)>) -> Result<(), BlockError> {
        self.fail_with_details(failures.into_iter().map(|(m, e)| (m, e, serde_json::Map::new())).collect()).await
    }

    /// As [`Output::fail`], with fields of the failure's own added to each error record (an HTTP
    /// sink's `status` and `body`; see [`error_record_with`]).
    ///
    /// # Errors
    /// As [`Output::fail`].
    pub async fn fail_with_details(&mut self, failures: Vec<(Message, String, serde_json::Map<String, Value>)>) -> Result<(), BlockError> {
        if failures.is_empty() {
            return Ok(());
        }
        self.metrics.errors.inc_by(failures.len() as u64);
        if !self.errors.edges.is_empty() {
            let batch = failures.into_iter().map(|(m, e, details)| error_record_with(&self.node, m, &e, details)).collect();
            return Ok(send_port(&self.errors, batch, &self.metrics).await?);
        }
        let failures: Vec<(Message, String)> = failures.into_iter().map(|(m, e, _)| (m, e)).collect();
        match self.on_error {
            OnError::Fail => {
                let (message, error) = failures.into_iter().next().expect("checked non-empty");
                let origin = message.meta().origin.clone();
                // Failed, not dropped: a source must not commit past a message that stopped the pipeline.
                message.ack(AckStatus::Failed);
                Err(BlockError::MessageFailed { origin, error })
            }
            OnError::Drop => {
                self.metrics.dropped_error.inc_by(failures.len() as u64);
                let count = failures.len() as u64;
                let (first, error) = failures
                    .into_iter()
                    .fold(None, |first, (m, e)| {
                        let origin = m.meta().origin.clone();
                        m.ack(AckStatus::Dropped);
                        first.or(Some((origin, e)))
                    })
                    .expect("checked non-empty");
                self.log_dropped(count, &first, &error);
                Ok(())
            }
        }
    }

    fn log_dropped(&mut self, count: u64, origin: &Origin, error: &str) {
        let Some(suppressed) = self.log_limit.check(count) else { return };
        tracing::warn!(node = %self.node, %origin, %error, suppressed, "message failed and was dropped (on_error = \"drop\")");
    }
}

async fn send_port(out: &PortOut, batch: Batch, metrics: &NodeMetrics) -> Result<(), Closed> {
    let count = batch.len() as u64;
    let Some((last, rest)) = out.edges.split_last() else {
        metrics.dropped_unread.inc_by(count);
        ack_batch(batch, AckStatus::Dropped);
        return Ok(());
    };
    let bytes: usize = batch.iter().map(Message::size_hint).sum();
    for edge in rest {
        deliver(edge, batch.clone(), metrics).await?;
    }
    deliver(last, batch, metrics).await?;
    out.metrics.sent_messages.inc_by(count);
    out.metrics.sent_bytes.inc_by(bytes as u64);
    Ok(())
}

async fn deliver(edge: &EdgeSender, batch: Batch, metrics: &NodeMetrics) -> Result<(), Closed> {
    if let Sent::DroppedFull(batch) = edge.send(batch).await? {
        metrics.dropped_full.inc_by(batch.len() as u64);
        ack_batch(batch, AckStatus::Dropped);
    }
    Ok(())
}

/// The message a node sends on its `errors` port for a failed message: the original value under
/// `message`, the error text, the node's name and where the message came from.
///
/// ```
/// # use runnel_engine::{Message, error_record};
/// let failed = Message::new(serde_json::json!({"n": 1}));
/// let record = error_record("parse", failed, "expected a string");
/// assert_eq!(record.value()["error"], "expected a string");
/// assert_eq!(record.value()["node"], "parse");
/// assert_eq!(record.value()["message"]["n"], 1);
/// ```
pub fn error_record(node: &str, message: Message, error: &str) -> Message {
    error_record_with(node, message, error, serde_json::Map::new())
}

/// As [`error_record`], with `details` added to the record's top level beside `error` (which
/// they cannot replace, nor `node`, `origin` and `message`).
///
/// ```
/// # use runnel_engine::{Message, error_record_with};
/// let details = serde_json::json!({"status": 400, "body": "bad"});
/// let details = details.as_object().cloned().unwrap_or_default();
/// let record = error_record_with("hook", Message::new(serde_json::json!(1)), "HTTP 400", details);
/// assert_eq!(record.value()["status"], 400);
/// assert_eq!(record.value()["error"], "HTTP 400");
/// ```
pub fn error_record_with(node: &str, message: Message, error: &str, details: serde_json::Map<String, Value>) -> Message {
    let origin = &message.meta().origin;
    let mut where_from = serde_json::Map::new();
    if let Some(n) = origin.node() {
        where_from.insert("source".into(), json!(n));
    }
    if let Some(s) = origin.stream() {
        where_from.insert("stream".into(), json!(s));
    }
    if let Some(p) = origin.partition {
        where_from.insert("partition".into(), json!(p));
    }
    if let Some(o) = origin.offset {
        where_from.insert("offset".into(), json!(o));
    }
    let mut record = message;
    let original: Value = std::mem::take(record.value_mut());
    let mut fields = serde_json::Map::new();
    fields.insert("error".into(), json!(error));
    fields.insert("node".into(), json!(node));
    fields.insert("origin".into(), Value::Object(where_from));
    fields.insert("message".into(), original);
    for (key, value) in details {
        fields.entry(key).or_insert(value);
    }
    record.set_value(Value::Object(fields));
    record
}
