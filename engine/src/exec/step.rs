//! A message through a sequence of function blocks, depth first: each message passes every
//! block before the next one enters, so it is still in cache when the later blocks read it.
//! Lines and forks both run their blocks with these functions.

use crate::block::FunctionBlock;
use crate::emitter::Emitter;
use crate::message::{Batch, Message};

/// One function block of a sequence, with what it emitted and what it handed on.
pub(crate) struct Step {
    pub(crate) block: Box<dyn FunctionBlock>,
    pub(crate) emitter: Emitter,
    /// Messages (and their bytes) handed to the next step since the last settle, counted here
    /// and added to the metrics once per batch.
    pub(crate) fed: Handed,
}

impl Step {
    /// `block`, whose node has `ports` output ports.
    pub(crate) fn new(block: Box<dyn FunctionBlock>, ports: usize) -> Self {
        Self { block, emitter: Emitter::new(ports), fed: Handed::default() }
    }
}

/// Messages and their bytes handed from one block of a sequence to the next.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Handed {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
}

impl Handed {
    /// Counts one message as handed on.
    pub(crate) fn count_one(&mut self, message: &Message) {
        self.messages += 1;
        self.bytes += message.size_hint() as u64;
    }

    /// Adds counts made elsewhere (by a fork).
    pub(crate) fn add(&mut self, other: Handed) {
        self.messages += other.messages;
        self.bytes += other.bytes;
    }
}

/// Runs `message` through step `index`, then what it emitted on its first port through the
/// steps after it. What the last step emits stays in its emitter.
pub(crate) fn push(steps: &mut [Step], index: usize, message: Message) {
    let step = &mut steps[index];
    step.block.process(message, &mut step.emitter);
    feed(steps, index);
}

/// Hands what step `index` has emitted on its first port to the next step, if there is one.
pub(crate) fn feed(steps: &mut [Step], index: usize) {
    if index + 1 == steps.len() || steps[index].emitter.is_empty(0) {
        return;
    }
    // Most blocks emit one message for one: it goes on without a vector changing hands.
    if let Some(message) = steps[index].emitter.take_single(0) {
        steps[index].fed.count_one(&message);
        return push(steps, index + 1, message);
    }
    let feed = steps[index].emitter.drain_port(0);
    let emptied = pass_on(steps, index, feed);
    // The emptied vector goes back, so the port keeps its allocation.
    steps[index].emitter.restore_port(0, emptied);
}

/// Counts `feed` as handed on by step `index` and runs it through the steps after it; returns
/// the emptied vector.
pub(crate) fn pass_on(steps: &mut [Step], index: usize, mut feed: Batch) -> Batch {
    for message in feed.drain(..) {
        steps[index].fed.count_one(&message);
        push(steps, index + 1, message);
    }
    feed
}

/// Runs `batch` through the steps from the first, each message depth first, with the emitters
/// told when the batch started (messages filtered out are acknowledged as of then).
pub(crate) fn run_batch(steps: &mut [Step], batch: Batch, start: std::time::Instant) {
    for step in steps.iter_mut() {
        step.emitter.set_now(start);
    }
    for message in batch {
        push(steps, 0, message);
    }
}
