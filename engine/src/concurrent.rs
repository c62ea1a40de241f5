//! The loop of an [`AsyncFunctionBlock`]: up to `limit` calls at once, each message's results
//! sent in input order (or as they finish), in batches of whatever finished together.

use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use futures::StreamExt;
use futures::stream::{FuturesOrdered, FuturesUnordered};

use crate::block::{AsyncFunctionBlock, Block, RunContext};
use crate::emitter::Emitter;
use crate::error::BlockError;
use crate::message::Message;

type Call = Pin<Box<dyn Future<Output = Emitter> + Send>>;

/// The calls in flight, kept in input order or not.
enum InFlight {
    Ordered(FuturesOrdered<Call>),
    Unordered(FuturesUnordered<Call>),
}

impl InFlight {
    fn len(&self) -> usize {
        match self {
            Self::Ordered(calls) => calls.len(),
            Self::Unordered(calls) => calls.len(),
        }
    }

    fn push(&mut self, call: Call) {
        match self {
            Self::Ordered(calls) => calls.push_back(call),
            Self::Unordered(calls) => calls.push(call),
        }
    }

    async fn next(&mut self) -> Option<Emitter> {
        match self {
            Self::Ordered(calls) => calls.next().await,
            Self::Unordered(calls) => calls.next().await,
        }
    }
}

/// An [`AsyncFunctionBlock`] run as a task: see [`crate::BuiltBlock::concurrent`].
pub(crate) struct Concurrent<B> {
    pub(crate) block: Arc<B>,
    pub(crate) limit: NonZeroUsize,
    pub(crate) ordered: bool,
}

impl<B: AsyncFunctionBlock> Concurrent<B> {
    fn call(&self, message: Message, ports: usize) -> Call {
        let block = Arc::clone(&self.block);
        Box::pin(async move {
            let mut out = Emitter::new(ports);
            block.process(message, &mut out).await;
            out
        })
    }
}

#[crate::async_trait]
impl<B: AsyncFunctionBlock> Block for Concurrent<B> {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let ports = cx.output.port_count();
        let limit = self.limit.get();
        let mut in_flight = if self.ordered { InFlight::Ordered(FuturesOrdered::new()) } else { InFlight::Unordered(FuturesUnordered::new()) };
        // Messages read and not yet started: a batch is read only once they have all started.
        let mut waiting: VecDeque<Message> = VecDeque::new();
        let mut collected = Emitter::new(ports);
        let mut open = true;
        loop {
            while in_flight.len() < limit {
                let Some(message) = waiting.pop_front() else { break };
                in_flight.push(self.call(message, ports));
            }
            if !open && waiting.is_empty() && in_flight.len() == 0 {
                return Ok(());
            }
            tokio::select! {
                batch = cx.input.next(), if open && waiting.is_empty() && in_flight.len() < limit => match batch {
                    Some(batch) => waiting.extend(batch),
                    None => open = false,
                },
                Some(mut done) = in_flight.next(), if in_flight.len() > 0 => {
                    let started = std::time::Instant::now();
                    collected.absorb(&mut done);
                    // Whatever else has finished goes in the same batch.
                    while collected.pending() < cx.batch_size.get() {
                        match in_flight.next().now_or_never() {
                            Some(Some(mut done)) => collected.absorb(&mut done),
                            _ => break,
                        }
                    }
                    collected.flush(&mut cx.output).await?;
                    cx.metrics.batch_duration.observe(started.elapsed().as_secs_f64());
                }
            }
        }
    }
}
