//! The block traits: [`Block`], the general async task, and [`FunctionBlock`], the simplest
//! kind, called once per message by a loop the engine provides. This module holds the traits
//! and the context a task is given, no runtime code: the engine's loops live in `exec`.

use std::num::NonZeroUsize;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ack::{AckReceiver, AckTracker};
use crate::channel::Input;
use crate::emitter::Emitter;
use crate::error::BlockError;
use crate::message::Message;
use crate::metrics::NodeMetrics;
use crate::output::Output;

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
