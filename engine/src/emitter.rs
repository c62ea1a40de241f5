//! [`Emitter`]: what a [`crate::FunctionBlock`] produces from one batch, sent on by the engine
//! once the batch is done.

use std::fmt;

use crate::ack::AckStatus;
use crate::error::BlockError;
use crate::message::{Batch, Message};
use crate::output::{Output, PortId};

/// Collects what a [`FunctionBlock`](crate::FunctionBlock) produces from one batch: messages
/// emitted per port, messages filtered out on purpose, failures. The engine sends what it holds
/// once the batch is done; in a block's own tests, `Emitter::take_port` and
/// `Emitter::take_failures` read it (Cargo feature `test-util`).
///
/// ```
/// use runnel_engine::{Emitter, Message};
///
/// let mut out = Emitter::new(2); // ports `out` (0) and one more (1)
/// out.emit(Message::new(1.into()));
/// out.emit_to(1, Message::new(2.into()));
/// out.filter(Message::new(3.into())); // dropped on purpose, acknowledged as dropped
/// out.fail(Message::new(4.into()), "too big");
/// assert_eq!(out.pending(), 2);
/// assert_eq!(out.take_port(1)[0].value(), &serde_json::json!(2));
/// assert_eq!(out.take_failures().len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Emitter {
    pending: Vec<Batch>,
    failures: Vec<(Message, String, serde_json::Map<String, serde_json::Value>)>,
    filtered: usize,
    evicted: usize,
    /// When the current batch started, for acknowledging the messages filtered out.
    now: Option<std::time::Instant>,
}

impl Emitter {
    /// An emitter for a node with `ports` output ports.
    pub fn new(ports: usize) -> Self {
        Self { pending: (0..ports).map(|_| Vec::new()).collect(), failures: Vec::new(), filtered: 0, evicted: 0, now: None }
    }

    /// How many output ports it collects for.
    pub(crate) fn port_count(&self) -> usize {
        self.pending.len()
    }

    /// Emits `message` on the first port.
    pub fn emit(&mut self, message: Message) {
        self.emit_to(0, message);
    }

    /// Emits `message` on `port`. A port the node does not have drops the message as unread.
    pub fn emit_to(&mut self, port: PortId, message: Message) {
        match self.pending.get_mut(port) {
            Some(batch) => batch.push(message),
            None => message.ack(AckStatus::Dropped),
        }
    }

    /// Drops `message` on purpose and counts it as filtered.
    pub fn filter(&mut self, message: Message) {
        self.filtered += 1;
        match self.now {
            Some(now) => message.acks.resolve_at(AckStatus::Dropped, now),
            None => message.ack(AckStatus::Dropped),
        }
    }

    /// Sets the time the current batch started: messages filtered out while it runs are
    /// acknowledged as of then, without a clock read each.
    pub(crate) fn set_now(&mut self, now: std::time::Instant) {
        self.now = Some(now);
    }

    /// Reports that `message` failed with `error`; the engine routes it to the errors port or
    /// applies the node's `on_error` policy.
    pub fn fail(&mut self, message: Message, error: impl fmt::Display) {
        self.failures.push((message, error.to_string(), serde_json::Map::new()));
    }

    /// As [`Emitter::fail`], with fields of the failure's own added to its error record (an
    /// HTTP call's `status` and `body`), as [`Output::fail_with_details`] does.
    pub fn fail_with_details(&mut self, message: Message, error: impl fmt::Display, details: serde_json::Map<String, serde_json::Value>) {
        self.failures.push((message, error.to_string(), details));
    }

    /// Records that the block evicted `count` state entries early because it reached its cap
    /// (counted in `runnel_node_state_evictions_total`). The block logs the warning.
    pub fn evicted(&mut self, count: usize) {
        self.evicted += count;
    }

    /// Takes the messages emitted on `port` and not yet sent (for tests of a block's logic;
    /// Cargo feature `test-util`).
    #[cfg(feature = "test-util")]
    pub fn take_port(&mut self, port: PortId) -> Batch {
        self.drain_port(port)
    }

    /// Takes the messages emitted on `port` and not yet sent.
    pub(crate) fn drain_port(&mut self, port: PortId) -> Batch {
        self.pending.get_mut(port).map(std::mem::take).unwrap_or_default()
    }

    /// The message waiting on `port`, taken out if it is the only one.
    pub(crate) fn take_single(&mut self, port: PortId) -> Option<Message> {
        let batch = self.pending.get_mut(port)?;
        if batch.len() == 1 { batch.pop() } else { None }
    }

    /// Whether nothing waits on `port`.
    pub(crate) fn is_empty(&self, port: PortId) -> bool {
        self.pending.get(port).is_none_or(Vec::is_empty)
    }

    /// Gives back an emptied vector taken by [`Emitter::take_port`], to keep its allocation.
    pub(crate) fn restore_port(&mut self, port: PortId, emptied: Batch) {
        if let Some(batch) = self.pending.get_mut(port) {
            if batch.is_empty() {
                *batch = emptied;
            }
        }
    }

    /// Moves everything `other` collected to the end of what this one holds.
    pub(crate) fn absorb(&mut self, other: &mut Emitter) {
        for (mine, theirs) in self.pending.iter_mut().zip(&mut other.pending) {
            mine.append(theirs);
        }
        self.failures.append(&mut other.failures);
        self.filtered += std::mem::take(&mut other.filtered);
        self.evicted += std::mem::take(&mut other.evicted);
    }

    /// Takes the failures reported and not yet handled (for tests of a block's logic; Cargo
    /// feature `test-util`).
    #[cfg(feature = "test-util")]
    pub fn take_failures(&mut self) -> Vec<(Message, String)> {
        std::mem::take(&mut self.failures).into_iter().map(|(message, error, _)| (message, error)).collect()
    }

    /// The failures reported and not yet handled, with each failure's own fields (Cargo feature
    /// `test-util`).
    #[cfg(feature = "test-util")]
    pub fn take_failures_with_details(&mut self) -> Vec<(Message, String, serde_json::Map<String, serde_json::Value>)> {
        std::mem::take(&mut self.failures)
    }

    /// Messages emitted and not yet sent, over all ports.
    pub fn pending(&self) -> usize {
        self.pending.iter().map(Vec::len).sum()
    }

    /// Sends everything collected through `output`.
    ///
    /// # Errors
    /// As [`Output::send_to`] and [`Output::fail`].
    pub async fn flush(&mut self, output: &mut Output) -> Result<(), BlockError> {
        if self.filtered > 0 {
            output.count_filtered(std::mem::take(&mut self.filtered));
        }
        if self.evicted > 0 {
            output.count_evicted(std::mem::take(&mut self.evicted));
        }
        for port in 0..self.pending.len() {
            if self.pending[port].is_empty() {
                continue;
            }
            let capacity = self.pending[port].len();
            let batch = std::mem::replace(&mut self.pending[port], Vec::with_capacity(capacity));
            output.send_to(port, batch).await?;
        }
        output.fail_with_details(std::mem::take(&mut self.failures)).await
    }
}
