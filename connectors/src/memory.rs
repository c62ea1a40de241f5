//! The `memory` source and sink: how a program that embeds runnel feeds a pipeline and reads
//! its output, and how tests do.
//!
//! In a pipeline file, a `memory` source emits its inline `messages` and finishes (or, with
//! `open = true`, waits for more sent from the program); a `memory` sink publishes its receiver
//! so that [`take_output`] can pick it up after the pipeline started.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use runnel_engine::{
    Ack, AckReceiver, AckStatus, AckTracker, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Origin,
    Resources, Role, RunContext, Stream, async_trait,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

/// Messages the program-side channel of a memory source or sink holds before it waits.
const HANDLE_CAPACITY: usize = 1024;

type Slot<T> = Arc<Mutex<Option<T>>>;

/// The source's ends of a [`MemoryInput`]: messages in, acknowledgements out.
type SourceEnds = (mpsc::Receiver<(u64, Message)>, mpsc::UnboundedSender<Ack>);

fn take_slot<T>(slot: &Slot<T>) -> Option<T> {
    slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
}

/// A source fed from memory: inline messages and/or a [`MemoryInput`] handle.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySourceConfig {
    /// Messages to emit first, in order.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// Keep running after the inline messages, taking more from the program through the
    /// [`MemoryInput`] that [`take_input`] returns, until every handle is dropped.
    #[serde(default)]
    pub open: bool,
    #[serde(skip)]
    channel: Slot<SourceEnds>,
}

/// The program's end of a memory source: send messages, receive their acknowledgements.
#[derive(Debug)]
pub struct MemoryInput {
    tx: mpsc::Sender<(u64, Message)>,
    next_id: Arc<AtomicU64>,
    /// One acknowledgement per message sent, once everything derived from it is done.
    pub acks: AckReceiver,
}

impl MemoryInput {
    /// Sends a JSON value; returns the id its acknowledgement will carry.
    ///
    /// # Errors
    /// The message back if the pipeline stopped.
    pub async fn send(&self, value: Value) -> Result<u64, Message> {
        self.send_message(Message::new(value)).await
    }

    /// Sends a message with metadata; returns the id its acknowledgement will carry.
    ///
    /// # Errors
    /// The message back if the pipeline stopped.
    pub async fn send_message(&self, message: Message) -> Result<u64, Message> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.tx.send((id, message)).await.map_err(|e| e.0.1)?;
        Ok(id)
    }

    /// Stops sending; the source finishes once it has forwarded what was sent. Acknowledgements
    /// keep arriving on [`MemoryInput::acks`].
    pub fn close(self) -> AckReceiver {
        self.acks
    }
}

impl MemorySourceConfig {
    /// A source fed by the returned handle (for pipelines built in code).
    pub fn channel() -> (Self, MemoryInput) {
        let (tx, rx) = mpsc::channel(HANDLE_CAPACITY);
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let config = Self { messages: Vec::new(), open: true, channel: Arc::new(Mutex::new(Some((rx, ack_tx)))) };
        (config, MemoryInput { tx, next_id: Arc::new(AtomicU64::new(0)), acks })
    }
}

impl Component for MemorySourceConfig {
    const TYPE: &'static str = "memory";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "Emits inline messages, and messages a program sends through its handle.";
    const EXAMPLE: &'static str = "messages = [{ kind = \"chat\", text = \"hi\" }, { kind = \"join\" }]";
}

#[async_trait]
impl BlockConfig for MemorySourceConfig {
    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let (rx, ack_tx) = match take_slot(&self.channel) {
            Some((rx, ack_tx)) => (Some(rx), Some(ack_tx)),
            None if self.open => {
                let (config, input) = Self::channel();
                cx.resources.insert(input_key(&cx.name), input);
                let (rx, ack_tx) = take_slot(&config.channel).expect("just created");
                (Some(rx), Some(ack_tx))
            }
            None => (None, None),
        };
        Ok(BuiltBlock::task(MemorySource { inline: self.messages.clone(), rx, ack_tx }))
    }
}

/// The running `memory` source.
#[derive(Debug)]
pub struct MemorySource {
    inline: Vec<Value>,
    rx: Option<mpsc::Receiver<(u64, Message)>>,
    ack_tx: Option<mpsc::UnboundedSender<Ack>>,
}

#[async_trait]
impl Block for MemorySource {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let tracker = AckTracker::new(self.ack_tx, Some(cx.metrics.acks.clone()));
        let from = Stream::new(cx.name.clone(), None);
        let origin = |offset| Origin::at(&from, offset);
        let inline_count = self.inline.len() as u64;
        let max = cx.batch_size.get();
        let mut inline = self.inline.into_iter().enumerate().map(|(i, value)| {
            let mut message = Message::new(value);
            message.meta_mut().origin = origin(i as u64);
            message.acks = tracker.token(u64::MAX - i as u64);
            message
        });
        // Messages move into their batches: a copy would leave an unresolved token behind.
        loop {
            let batch: Vec<Message> = inline.by_ref().take(max).collect();
            if batch.is_empty() {
                break;
            }
            cx.output.send(batch).await?;
        }
        let Some(mut rx) = self.rx else { return Ok(()) };
        loop {
            let mut received = Vec::with_capacity(max);
            let count = tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => return Ok(()),
                count = rx.recv_many(&mut received, max) => count,
            };
            if count == 0 {
                return Ok(());
            }
            let batch = received
                .into_iter()
                .map(|(id, mut message)| {
                    if message.meta().origin.from.is_none() {
                        message.meta_mut().origin = origin(inline_count + id);
                    }
                    message.acks.merge(tracker.token(id));
                    message
                })
                .collect();
            cx.output.send(batch).await?;
        }
    }
}

/// A sink that hands every message to the program through a [`MemoryOutput`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySinkConfig {
    #[serde(skip)]
    channel: Slot<mpsc::Sender<Message>>,
}

/// The program's end of a memory sink. Messages arrive without acknowledgement tokens: the sink
/// acknowledges each one as delivered when the program's channel accepts it.
#[derive(Debug)]
pub struct MemoryOutput {
    rx: mpsc::Receiver<Message>,
}

impl MemoryOutput {
    /// The next message, or `None` once the sink has finished.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// Every remaining message until the sink finishes.
    pub async fn collect(mut self) -> Vec<Message> {
        let mut all = Vec::new();
        while let Some(message) = self.rx.recv().await {
            all.push(message);
        }
        all
    }

    /// The JSON values of every remaining message until the sink finishes.
    pub async fn collect_values(self) -> Vec<Value> {
        self.collect().await.into_iter().map(Message::into_value).collect()
    }
}

impl MemorySinkConfig {
    /// A sink whose messages arrive at the returned handle (for pipelines built in code).
    pub fn channel() -> (Self, MemoryOutput) {
        Self::with_capacity(HANDLE_CAPACITY)
    }

    /// As [`MemorySinkConfig::channel`], with a channel of `capacity` messages: a program that
    /// does not read backpressures the pipeline.
    pub fn with_capacity(capacity: usize) -> (Self, MemoryOutput) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { channel: Arc::new(Mutex::new(Some(tx))) }, MemoryOutput { rx })
    }
}

impl Component for MemorySinkConfig {
    const TYPE: &'static str = "memory";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Hands messages to the program that runs the pipeline (see `take_output`).";
    const EXAMPLE: &'static str = "";
}

#[async_trait]
impl BlockConfig for MemorySinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let tx = match take_slot(&self.channel) {
            Some(tx) => tx,
            None => {
                let (config, output) = Self::channel();
                cx.resources.insert(output_key(&cx.name), output);
                take_slot(&config.channel).expect("just created")
            }
        };
        Ok(BuiltBlock::task(MemorySink { tx }))
    }
}

/// The running `memory` sink.
#[derive(Debug)]
pub struct MemorySink {
    tx: mpsc::Sender<Message>,
}

#[async_trait]
impl Block for MemorySink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            for mut message in batch {
                let acks = message.acks.take();
                match self.tx.send(message).await {
                    Ok(()) => acks.resolve(AckStatus::Delivered),
                    Err(_) => {
                        acks.resolve(AckStatus::Failed);
                        return Err(BlockError::other("the program stopped reading the memory sink"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn output_key(node: &str) -> String {
    format!("memory-sink:{node}")
}

fn input_key(node: &str) -> String {
    format!("memory-source:{node}")
}

/// The output handle of the `memory` sink called `node` in a pipeline loaded from a file.
/// Available once the pipeline has started; `None` if taken already.
pub fn take_output(resources: &Resources, node: &str) -> Option<MemoryOutput> {
    resources.take(&output_key(node))
}

/// The input handle of the `memory` source called `node` (with `open = true`) in a pipeline
/// loaded from a file. Available once the pipeline has started.
pub fn take_input(resources: &Resources, node: &str) -> Option<MemoryInput> {
    resources.take(&input_key(node))
}
