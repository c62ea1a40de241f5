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
use crate::health::Readiness;
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
    /// How the node says whether it can do its work (`/ready`).
    pub readiness: Readiness,
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
///
/// A source sends batches until the shutdown token fires; a sink reads its input until it ends
/// and resolves each message's acknowledgement once the outside world has it:
///
/// ```
/// use runnel_engine::{AckStatus, Block, BlockError, Message, RunContext, ack_batch, async_trait};
///
/// /// Counts to `n` in batches, then ends.
/// struct Count { n: u64 }
///
/// #[async_trait]
/// impl Block for Count {
///     async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
///         let numbers: Vec<u64> = (1..=self.n).collect();
///         for chunk in numbers.chunks(cx.batch_size.get()) {
///             if cx.shutdown.is_cancelled() {
///                 break;
///             }
///             let batch = chunk.iter().map(|&i| Message::new(i.into())).collect();
///             cx.output.send(batch).await?;
///         }
///         Ok(())
///     }
/// }
///
/// /// Prints every message, then acknowledges it as delivered.
/// struct Print;
///
/// #[async_trait]
/// impl Block for Print {
///     async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
///         while let Some(batch) = cx.input.next().await {
///             for message in &batch {
///                 println!("{}", message.value());
///             }
///             ack_batch(batch, AckStatus::Delivered);
///         }
///         Ok(())
///     }
/// }
/// ```
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
///
/// ```
/// use runnel_engine::{Emitter, FunctionBlock, Message};
///
/// /// Keeps the messages that have a `text`, upper-cased; fails the others.
/// struct Shout;
///
/// impl FunctionBlock for Shout {
///     fn process(&mut self, mut message: Message, out: &mut Emitter) {
///         let Some(text) = message.value()["text"].as_str().map(str::to_uppercase) else {
///             return out.fail(message, "no `text`");
///         };
///         message.value_mut()["text"] = text.into();
///         out.emit(message);
///     }
///
///     fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
///         Some(Box::new(Shout)) // stateless: the engine may run copies on several workers
///     }
/// }
///
/// let mut out = Emitter::new(1);
/// Shout.process(Message::new(serde_json::json!({"text": "hi"})), &mut out);
/// Shout.process(Message::new(serde_json::json!({"n": 1})), &mut out);
/// assert_eq!(out.take_port(0)[0].value()["text"], "HI");
/// assert_eq!(out.take_failures()[0].1, "no `text`");
/// ```
pub trait FunctionBlock: Send + 'static {
    /// Handles one message: emit it (changed or not), emit others, filter it or fail it.
    fn process(&mut self, message: Message, out: &mut Emitter);

    /// When [`FunctionBlock::on_deadline`] should next be called, if ever.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Called once the deadline has passed (a timeout flush, a processing-time window).
    fn on_deadline(&mut self, _now: Instant, _out: &mut Emitter) {}

    /// Called after the input has ended, to flush held state: once, or again after what it
    /// emitted was sent for as long as [`FunctionBlock::flushing`] says more is held.
    fn on_close(&mut self, _out: &mut Emitter) {}

    /// Whether [`FunctionBlock::on_close`] left state to flush. A block holding much state
    /// (a million open windows) flushes a part per call, so that what waits to be sent stays
    /// bounded instead of all of it being built at once. False by default: one call.
    fn flushing(&self) -> bool {
        false
    }

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

/// A block that handles each message with an asynchronous call: an HTTP request, a query, a
/// program run. The engine runs up to a limit of calls at once and sends each message's results
/// in input order (or as they finish, when order does not matter), batching what finished
/// together; see [`crate::BuiltBlock::concurrent`]. The block is shared by its calls, so state
/// it keeps (a cache, a client) sits behind `&self`.
///
/// ```
/// use runnel_engine::{AsyncFunctionBlock, Emitter, Message, async_trait};
///
/// /// Waits a little, then passes each message on with `done` set.
/// struct Slow;
///
/// #[async_trait]
/// impl AsyncFunctionBlock for Slow {
///     async fn process(&self, mut message: Message, out: &mut Emitter) {
///         tokio::task::yield_now().await;
///         message.value_mut()["done"] = true.into();
///         out.emit(message);
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut out = Emitter::new(1);
/// Slow.process(Message::new(serde_json::json!({"n": 1})), &mut out).await;
/// assert_eq!(out.take_port(0)[0].value()["done"], true);
/// # });
/// ```
#[async_trait]
pub trait AsyncFunctionBlock: Send + Sync + 'static {
    /// Handles one message: emit it (changed or not), emit others, filter it or fail it, as
    /// [`FunctionBlock::process`] does.
    async fn process(&self, message: Message, out: &mut Emitter);
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

    fn flushing(&self) -> bool {
        (**self).flushing()
    }

    fn state_size(&self) -> usize {
        (**self).state_size()
    }

    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        (**self).fork()
    }
}
