//! Running the stateless head of a line of function blocks on several batches at once.
//!
//! On a runtime with several worker threads, a line whose first blocks can
//! [`fork`](crate::block::FunctionBlock::fork) (filters, maps, routes) keeps one set of forked
//! instances per worker. Each batch runs through a set in a task of its own; the line's task
//! takes the results back in input order, sends what they emitted and feeds the rest of the
//! line, which keeps state and so runs one batch at a time.

use std::time::{Duration, Instant};

use crate::block::{Emitter, FunctionBlock};
use crate::chain::{Handed, Stage};
use crate::message::{Batch, Message};

/// Forked instances of a line's leading stateless blocks, each with its own emitter.
pub(crate) struct Forked {
    stages: Vec<(Box<dyn FunctionBlock>, Emitter)>,
    /// Messages and bytes each stage handed to the next, for the metrics.
    fed: Vec<Handed>,
    /// How long the last batch took.
    took: Duration,
}

impl Forked {
    /// Forks of the leading blocks of `stages` that can fork; `None` when the first cannot.
    pub(crate) fn of(stages: &[Stage]) -> Option<Self> {
        let forked: Vec<_> = stages.iter().map_while(|stage| Some((stage.block.fork()?, Emitter::new(stage.output.port_count())))).collect();
        let fed = vec![Handed::default(); forked.len()];
        (!forked.is_empty()).then_some(Self { stages: forked, fed, took: Duration::ZERO })
    }

    /// How many stages are forked.
    pub(crate) fn len(&self) -> usize {
        self.stages.len()
    }

    /// Runs `batch` through the forks, depth first. Everything emitted stays in the emitters,
    /// the last fork's first port included, for [`Forked::emitter`] to take.
    pub(crate) fn run(mut self, batch: Batch) -> Self {
        let start = Instant::now();
        for (_, emitter) in &mut self.stages {
            emitter.set_now(start);
        }
        for message in batch {
            self.push(0, message);
        }
        self.took = start.elapsed();
        self
    }

    fn push(&mut self, index: usize, message: Message) {
        let last = index + 1 == self.stages.len();
        let (block, emitter) = &mut self.stages[index];
        block.process(message, emitter);
        if last || emitter.is_empty(0) {
            return;
        }
        if let Some(message) = emitter.take_single(0) {
            self.fed[index].count_one(&message);
            return self.push(index + 1, message);
        }
        let mut feed = emitter.take_port(0);
        self.fed[index].count(&feed);
        for message in feed.drain(..) {
            self.push(index + 1, message);
        }
        self.stages[index].1.restore_port(0, feed);
    }

    /// Stage `index`'s emitter, with what it emitted on the last batch.
    pub(crate) fn emitter(&mut self, index: usize) -> &mut Emitter {
        &mut self.stages[index].1
    }

    /// Takes what stage `index` handed to the next fork during the last batch.
    pub(crate) fn take_fed(&mut self, index: usize) -> Handed {
        std::mem::take(&mut self.fed[index])
    }

    /// How long the last batch took.
    pub(crate) fn took(&self) -> Duration {
        self.took
    }
}
