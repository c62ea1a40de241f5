//! The block traits: [`Block`], the general async task, and [`FunctionBlock`], the simplest
//! kind, called once per message by a loop the engine provides.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ack::{AckReceiver, AckStatus, AckTracker};
use crate::chain::{Line, Stage};
use crate::channel::Input;
use crate::error::BlockError;
use crate::message::{Batch, Message};
use crate::metrics::NodeMetrics;
use crate::output::{Output, PortId};

/// Everything a running node gets from the engine.
#[derive(Debug)]
pub struct RunContext {
    /// The node's name in the pipeline.
    pub name: Arc<str>,
    /// The node's merged input edges (empty for sources).
    pub input: Input,
    /// The node's output ports.
    pub output: Output,
    /// Cancelled when the pipeline shuts down. Sources stop reading when it fires; blocks and
    /// sinks ignore it and finish when their input ends.
    pub shutdown: CancellationToken,
    /// The node's metric handles.
    pub metrics: NodeMetrics,
    /// How many messages a source should put in one batch at most.
    pub batch_size: NonZeroUsize,
}

impl RunContext {
    /// An acknowledgement tracker for a source, wired to the node's acknowledgement metrics.
    pub fn ack_tracker(&self) -> (AckTracker, AckReceiver) {
        AckTracker::channel(Some(self.metrics.acks.clone()))
    }

    /// An acknowledgement tracker that only records the node's acknowledgement metrics, for
    /// sources that have nothing to commit.
    pub fn ack_metrics_tracker(&self) -> AckTracker {
        AckTracker::new(None, Some(self.metrics.acks.clone()))
    }
}

/// A running node: a source, a block or a sink. The engine spawns [`Block::run`] as one task,
/// inside a tracing span named after the node, and owns its handle.
#[async_trait]
pub trait Block: Send + 'static {
    /// Runs until the input ends (blocks, sinks) or the shutdown signal fires (sources).
    ///
    /// # Errors
    /// A [`BlockError`] stops the pipeline; the message says which node failed and why.
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError>;

    /// Takes out the per-message block inside, if this is a [`Function`], so that the engine can
    /// chain it with its neighbours in one task; the husk left behind is dropped. Other blocks
    /// return `None`.
    fn take_function(&mut self) -> Option<Box<dyn FunctionBlock>> {
        None
    }
}

/// A block that handles one message at a time, synchronously. The engine runs the loop:
/// it reads batches, calls [`FunctionBlock::process`] for each message, and sends what the
/// [`Emitter`] collected as one batch per port. Stateful blocks (windows, batching) use the
/// deadline hooks and [`FunctionBlock::on_close`].
pub trait FunctionBlock: Send + 'static {
    /// Handles one message: emit it (changed or not), emit others, filter it or fail it.
    fn process(&mut self, message: Message, out: &mut Emitter);

    /// When [`FunctionBlock::on_deadline`] should next be called, if ever.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Called once the deadline has passed (a timeout flush, a processing-time window).
    fn on_deadline(&mut self, _now: Instant, _out: &mut Emitter) {}

    /// Called once after the input has ended, to flush held state.
    fn on_close(&mut self, _out: &mut Emitter) {}

    /// How many entries of state the block holds (open windows, remembered keys), reported as
    /// `runnel_node_state_entries` after every batch. Stateless blocks keep the default.
    fn state_size(&self) -> usize {
        0
    }

    /// Another instance of a stateless block, to run on other batches at the same time on
    /// another worker thread; `None` (the default) for a block that keeps state between
    /// messages. A block returning `Some` promises that each message's outcome depends on that
    /// message alone, and that it has no deadline and emits nothing on close. The engine still
    /// sends what the instances emit in input order.
    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        None
    }
}

impl FunctionBlock for Box<dyn FunctionBlock> {
    fn process(&mut self, message: Message, out: &mut Emitter) {
        (**self).process(message, out);
    }

    fn deadline(&self) -> Option<Instant> {
        (**self).deadline()
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Emitter) {
        (**self).on_deadline(now, out);
    }

    fn on_close(&mut self, out: &mut Emitter) {
        (**self).on_close(out);
    }

    fn state_size(&self) -> usize {
        (**self).state_size()
    }

    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        (**self).fork()
    }
}

/// Collects what a [`FunctionBlock`] produces from one batch.
#[derive(Debug, Default)]
pub struct Emitter {
    pending: Vec<Batch>,
    failures: Vec<(Message, String)>,
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
        self.failures.push((message, error.to_string()));
    }

    /// Records that the block evicted `count` state entries early because it reached its cap
    /// (counted in `runnel_node_state_evictions_total`). The block logs the warning.
    pub fn evicted(&mut self, count: usize) {
        self.evicted += count;
    }

    /// Takes the messages emitted on `port` and not yet sent (for tests of a block's logic).
    pub fn take_port(&mut self, port: PortId) -> Batch {
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

    /// Takes the failures reported and not yet handled (for tests of a block's logic).
    pub fn take_failures(&mut self) -> Vec<(Message, String)> {
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
        output.fail(std::mem::take(&mut self.failures)).await
    }
}

/// Runs a [`FunctionBlock`] as a [`Block`].
#[derive(Debug)]
pub struct Function<F>(Option<F>);

impl<F: FunctionBlock> Function<F> {
    /// Wraps `block`.
    pub fn new(block: F) -> Self {
        Self(Some(block))
    }
}

#[async_trait]
impl<F: FunctionBlock> Block for Function<F> {
    fn take_function(&mut self) -> Option<Box<dyn FunctionBlock>> {
        self.0.take().map(|block| Box::new(block) as Box<dyn FunctionBlock>)
    }

    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        // Only a husk whose block a chain took has none; it is never spawned.
        let Some(block) = self.0 else { return Ok(()) };
        let RunContext { mut input, output, metrics, .. } = cx;
        let line = Line { stages: vec![Stage::new(Box::new(block), output, metrics)] };
        line.run(&mut input).await
    }
}

/// Wraps a [`FunctionBlock`] into the boxed [`Block`] that [`crate::BlockConfig::build`] returns.
pub fn function_block(block: impl FunctionBlock) -> Box<dyn Block> {
    Box::new(Function::new(block))
}
