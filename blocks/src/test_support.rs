//! A harness for block tests: runs one block in a real pipeline between a source that sends
//! given values (each tracked for acknowledgement) and two sinks, one on the block's `out` port
//! and one on its `errors` port.

use std::sync::{Arc, Mutex, PoisonError};

use runnel_engine::{
    Ack, AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Message, PipelineBuilder, RunContext, async_trait,
};
use serde_json::Value;

/// What came out of [`run_block`].
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Values that reached the `out` sink, in order.
    pub(crate) out: Vec<Value>,
    /// Error records that reached the `errors` sink.
    pub(crate) errors: Vec<Value>,
    /// The final acknowledgement of each input, in input order.
    pub(crate) acks: Vec<AckStatus>,
}

/// Runs `block` on `inputs` until the pipeline has drained.
pub(crate) async fn run_block(block: impl BlockConfig, inputs: Vec<Value>) -> Outcome {
    let out = Collected::default();
    let errors = Collected::default();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let pipeline = PipelineBuilder::new()
        .source("in", Values { values: inputs, acks: acks.clone() })
        .block("block", ["in"], block)
        .sink("out", ["block"], out.clone())
        .sink("errors", ["block.errors"], errors.clone())
        .build()
        .expect("the test pipeline is valid");
    pipeline.start().await.expect("the test pipeline starts").wait().await.expect("the test pipeline runs");

    let mut acks = std::mem::take(&mut *lock(&acks));
    acks.sort_by_key(|ack| ack.id);
    Outcome { out: out.take(), errors: errors.take(), acks: acks.into_iter().map(|ack| ack.status).collect() }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A source that sends `values` as one batch, then waits for every acknowledgement.
#[derive(Debug)]
struct Values {
    values: Vec<Value>,
    acks: Arc<Mutex<Vec<Ack>>>,
}

#[async_trait]
impl BlockConfig for Values {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Values { values: self.values.clone(), acks: self.acks.clone() }))
    }
}

#[async_trait]
impl Block for Values {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let (tracker, mut received) = cx.ack_tracker();
        let mut output = cx.output;
        let batch = (0..)
            .zip(self.values)
            .map(|(id, value)| {
                let mut message = Message::new(value);
                message.acks = tracker.token(id);
                message
            })
            .collect();
        output.send(batch).await?;
        // Closing the output lets the pipeline drain; the receiver ends once every token and
        // the tracker are gone.
        drop((output, tracker));
        while let Some(ack) = received.recv().await {
            lock(&self.acks).push(ack);
        }
        Ok(())
    }
}

/// A sink that keeps the values it receives and acknowledges them as delivered.
#[derive(Clone, Debug, Default)]
pub(crate) struct Collected(Arc<Mutex<Vec<Value>>>);

impl Collected {
    /// What it received so far, taken out.
    pub(crate) fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *lock(&self.0))
    }
}

#[async_trait]
impl BlockConfig for Collected {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for Collected {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            for message in batch {
                lock(&self.0).push(message.value().clone());
                message.ack(AckStatus::Delivered);
            }
        }
        Ok(())
    }
}

/// The bytes this thread holds (allocated and not yet freed), from jemalloc's per-thread
/// counters; jemalloc is the global allocator of this crate's tests.
fn held() -> u64 {
    let allocated = tikv_jemalloc_ctl::thread::allocatedp::mib().and_then(|mib| mib.read()).expect("jemalloc counts allocations");
    let freed = tikv_jemalloc_ctl::thread::deallocatedp::mib().and_then(|mib| mib.read()).expect("jemalloc counts frees");
    allocated.get().wrapping_sub(freed.get())
}

/// The bytes `fill` leaves held on this thread, per one of the `entries` it adds to a block's
/// state: what each entry costs, as jemalloc counts it (with its size classes and the spare
/// capacity of the block's tables). `fill` must build its inputs itself, so that what it frees
/// of them offsets what it allocated.
pub(crate) fn held_per_entry(entries: usize, fill: impl FnOnce()) -> f64 {
    let before = held();
    fill();
    held().wrapping_sub(before) as i64 as f64 / entries as f64
}
