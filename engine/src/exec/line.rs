//! The loop of a line of function blocks: one task reads the first block's input, runs each
//! batch through every block depth first, sends what each block emitted on its own ports, and
//! calls the blocks' deadlines and closes. A lone function block is a line of one.

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::time::Instant;

use super::fork::Forked;
use super::step::{self, Handed, Step};
use crate::block::FunctionBlock;
use crate::channel::Input;
use crate::error::BlockError;
use crate::message::Batch;
use crate::metrics::NodeMetrics;
use crate::output::Output;

/// A block's own output side in a line: its ports (the first feeds the next block, except for
/// the last one), its `errors` port and policy, and its metrics.
pub(crate) struct Side {
    pub(crate) output: Output,
    pub(crate) metrics: NodeMetrics,
}

/// Function blocks run in one loop; the first reads the task's input.
pub(crate) struct Line {
    steps: Vec<Step>,
    sides: Vec<Side>,
    input: Input,
}

impl Line {
    /// A line of one block, reading `input`.
    pub(crate) fn new(block: Box<dyn FunctionBlock>, side: Side, input: Input) -> Self {
        let mut line = Self { steps: Vec::new(), sides: Vec::new(), input };
        line.extend(block, side);
        line
    }

    /// Adds `block` at the end of the line, fed by the first port of the block before it.
    pub(crate) fn extend(&mut self, block: Box<dyn FunctionBlock>, side: Side) {
        if let Some(previous) = self.sides.last_mut() {
            // The block is fed directly; the edge's channel is dropped with both of its ends.
            drop(previous.output.detach(0));
        }
        self.steps.push(Step::new(block, side.output.port_count()));
        self.sides.push(side);
    }

    /// Sends what step `index` and the steps after it emitted on their other ports (and the
    /// last step on all of its ports), and records what went down the line.
    async fn settle(&mut self, index: usize) -> Result<(), BlockError> {
        for at in index..self.steps.len() {
            // A deadline or close may have emitted on the first port outside `push`.
            step::feed(&mut self.steps, at);
            let Handed { messages: fed, bytes } = std::mem::take(&mut self.steps[at].fed);
            if fed > 0 {
                self.sides[at].output.count_sent_n(0, fed, bytes);
                let next = &self.sides[at + 1].metrics;
                next.received_messages.inc_by(fed);
                next.received_bytes.inc_by(bytes);
            }
            let (step, side) = (&mut self.steps[at], &mut self.sides[at]);
            step.emitter.flush(&mut side.output).await?;
            side.metrics.state_entries.set(step.block.state_size() as i64);
        }
        Ok(())
    }

    /// Runs a batch through the line. Its duration is observed on the first block's histogram:
    /// chained blocks share their time.
    fn process(&mut self, batch: Batch) {
        let start = std::time::Instant::now();
        step::run_batch(&mut self.steps, batch, start);
        self.sides[0].metrics.batch_duration.observe(start.elapsed().as_secs_f64());
    }

    fn deadline(&self) -> Option<Instant> {
        self.steps.iter().filter_map(|s| s.block.deadline()).min()
    }

    /// Takes back a batch a fork ran: counts it, sends what the forks emitted, and feeds what
    /// the last fork emitted on its first port to the rest of the line.
    async fn absorb(&mut self, forked: &mut Forked) -> Result<(), BlockError> {
        let start = std::time::Instant::now();
        let forks = forked.len();
        for index in 0..forks {
            self.steps[index].fed.add(forked.take_fed(index));
            if index + 1 == forks && forks < self.steps.len() {
                for step in &mut self.steps[forks..] {
                    step.emitter.set_now(start);
                }
                let feed = forked.emitter(index).drain_port(0);
                let emptied = step::pass_on(&mut self.steps, index, feed);
                forked.emitter(index).restore_port(0, emptied);
            }
            forked.emitter(index).flush(&mut self.sides[index].output).await?;
        }
        let took = forked.took() + start.elapsed();
        self.sides[0].metrics.batch_duration.observe(took.as_secs_f64());
        self.settle(0).await
    }

    /// Calls the deadline hook of every block whose deadline has passed.
    async fn on_deadlines(&mut self) -> Result<(), BlockError> {
        let now = Instant::now();
        for index in 0..self.steps.len() {
            let step = &mut self.steps[index];
            if step.block.deadline().is_some_and(|at| at <= now) {
                step.block.on_deadline(now, &mut step.emitter);
                self.settle(index).await?;
            }
        }
        Ok(())
    }

    /// Runs every block until the input ends, then closes them in order. With several worker
    /// threads, the stateless head of the line runs on several batches at once (see
    /// [`super::fork`]).
    pub(crate) async fn run(mut self) -> Result<(), BlockError> {
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let mut idle: Vec<Forked> = if workers > 1 { (0..workers).map_while(|_| Forked::of(&self.steps)).collect() } else { Vec::new() };
        let parallel = !idle.is_empty();
        let mut running = FuturesOrdered::new();
        let mut open = true;
        while open || !running.is_empty() {
            let deadline = self.deadline();
            tokio::select! {
                batch = self.input.next(), if open && (!parallel || !idle.is_empty()) => match (batch, idle.pop()) {
                    (None, forked) => {
                        idle.extend(forked);
                        open = false;
                    }
                    (Some(batch), Some(forked)) => running.push_back(tokio::spawn(async move { forked.run(batch) })),
                    (Some(batch), None) => {
                        self.process(batch);
                        self.settle(0).await?;
                    }
                },
                Some(done) = running.next(), if !running.is_empty() => {
                    let mut forked: Forked = done.map_err(|e| BlockError::other(format!("a forked block failed: {e}")))?;
                    self.absorb(&mut forked).await?;
                    idle.push(forked);
                }
                () = crate::time::sleep_until(deadline), if deadline.is_some() => self.on_deadlines().await?,
            }
        }
        for index in 0..self.steps.len() {
            loop {
                let step = &mut self.steps[index];
                step.block.on_close(&mut step.emitter);
                let flushing = step.block.flushing();
                self.settle(index).await?;
                if !flushing {
                    break;
                }
            }
        }
        Ok(())
    }
}
