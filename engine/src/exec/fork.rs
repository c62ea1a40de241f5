//! Running the stateless head of a line of function blocks on several batches at once.
//!
//! On a runtime with several worker threads, a line whose first blocks can
//! [`fork`](crate::block::FunctionBlock::fork) (filters, maps, routes) keeps one set of forked
//! instances per worker. Each batch runs through a set in a task of its own; the line's task
//! takes the results back in input order, sends what they emitted and feeds the rest of the
//! line, which keeps state and so runs one batch at a time.

use std::time::{Duration, Instant};

use super::step::{self, Handed, Step};
use crate::emitter::Emitter;
use crate::message::Batch;

/// Forked instances of a line's leading stateless blocks, each with its own emitter.
pub(crate) struct Forked {
    steps: Vec<Step>,
    /// How long the last batch took.
    took: Duration,
}

impl Forked {
    /// Forks of the leading blocks of `steps` that can fork; `None` when the first cannot.
    pub(crate) fn of(steps: &[Step]) -> Option<Self> {
        let forked: Vec<Step> = steps.iter().map_while(|step| Some(Step::new(step.block.fork()?, step.emitter.port_count()))).collect();
        (!forked.is_empty()).then_some(Self { steps: forked, took: Duration::ZERO })
    }

    /// How many steps are forked.
    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    /// Runs `batch` through the forks, depth first. Everything emitted stays in the emitters,
    /// the last fork's first port included, for [`Forked::emitter`] to take.
    pub(crate) fn run(mut self, batch: Batch) -> Self {
        let start = Instant::now();
        step::run_batch(&mut self.steps, batch, start);
        self.took = start.elapsed();
        self
    }

    /// Step `index`'s emitter, with what it emitted on the last batch.
    pub(crate) fn emitter(&mut self, index: usize) -> &mut Emitter {
        &mut self.steps[index].emitter
    }

    /// Takes what step `index` handed to the next fork during the last batch.
    pub(crate) fn take_fed(&mut self, index: usize) -> Handed {
        std::mem::take(&mut self.steps[index].fed)
    }

    /// How long the last batch took.
    pub(crate) fn took(&self) -> Duration {
        self.took
    }
}
