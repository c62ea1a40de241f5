//! Running function blocks, alone or chained.
//!
//! [`Line`] is the one loop that runs [`FunctionBlock`]s: a lone block ([`crate::Function`]) is
//! a line of one. Operator chaining makes longer lines: function blocks, each the only reader
//! of the previous one's first port, run as one task. A batch goes through every block of the
//! chain while it is hot in cache, without a channel hop, task wake-up or batch allocation
//! between blocks. Every block keeps its own other ports, `errors` port, policy and metrics.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::time::Instant;

use petgraph::Direction;
use petgraph::visit::EdgeRef;

use crate::block::{Block, Emitter, Function, FunctionBlock, RunContext};
use crate::channel::Input;
use crate::channel::WhenFull;
use crate::component::Role;
use crate::error::BlockError;
use crate::fork::Forked;
use crate::graph::{PipelineGraph, ports};
use crate::message::{Batch, Message};
use crate::metrics::NodeMetrics;
use crate::output::{ERRORS_PORT, Output};

/// One block of a chain, with its own output side.
pub(crate) struct Stage {
    pub(crate) block: Box<dyn FunctionBlock>,
    pub(crate) output: Output,
    pub(crate) metrics: NodeMetrics,
    pub(crate) emitter: Emitter,
    /// Messages (and their bytes) handed to the next stage since the last settle, counted here
    /// and added to the metrics once per batch.
    pub(crate) fed: Handed,
}

/// Messages and their bytes handed from one block of a line to the next.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Handed {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
}

impl Handed {
    /// Counts `batch` as handed on.
    pub(crate) fn count(&mut self, batch: &Batch) {
        for message in batch {
            self.count_one(message);
        }
    }

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

impl Stage {
    pub(crate) fn new(block: Box<dyn FunctionBlock>, output: Output, metrics: NodeMetrics) -> Self {
        let emitter = Emitter::new(output.port_count());
        Self { block, output, metrics, emitter, fed: Handed::default() }
    }
}

/// Function blocks run in one loop; the first reads the task's input.
///
/// Messages go through the line depth first: each one passes every stage before the next one
/// enters, so a message is still in cache when the second and later blocks read it.
pub(crate) struct Line {
    pub(crate) stages: Vec<Stage>,
}

impl Line {
    /// Runs `message` through stage `index`, then what it emitted on its first port through the
    /// stages after it.
    fn push(&mut self, index: usize, message: Message) {
        let stage = &mut self.stages[index];
        stage.block.process(message, &mut stage.emitter);
        self.feed(index);
    }

    /// Hands what stage `index` has emitted on its first port to the next stage, if any.
    fn feed(&mut self, index: usize) {
        if index + 1 == self.stages.len() || self.stages[index].emitter.is_empty(0) {
            return;
        }
        // Most blocks emit one message for one: it goes on without a vector changing hands.
        if let Some(message) = self.stages[index].emitter.take_single(0) {
            self.stages[index].fed.count_one(&message);
            return self.push(index + 1, message);
        }
        let feed = self.stages[index].emitter.take_port(0);
        let emptied = self.pass_on(index, feed);
        // The emptied vector goes back, so the port keeps its allocation.
        self.stages[index].emitter.restore_port(0, emptied);
    }

    /// Counts `feed` as handed on by stage `index` and runs it through the stages after it;
    /// returns the emptied vector.
    fn pass_on(&mut self, index: usize, mut feed: Batch) -> Batch {
        self.stages[index].fed.count(&feed);
        for message in feed.drain(..) {
            self.push(index + 1, message);
        }
        feed
    }

    /// Sends what stage `index` and the stages after it emitted on their other ports (and the
    /// last stage on all of its ports), and records what went down the line.
    async fn settle(&mut self, index: usize) -> Result<(), BlockError> {
        for at in index..self.stages.len() {
            // A deadline or close may have emitted on the first port outside `push`.
            self.feed(at);
            let Handed { messages: fed, bytes } = std::mem::take(&mut self.stages[at].fed);
            if fed > 0 {
                self.stages[at].output.count_sent_n(0, fed, bytes);
                let next = &self.stages[at + 1].metrics;
                next.received_messages.inc_by(fed);
                next.received_bytes.inc_by(bytes);
            }
            let stage = &mut self.stages[at];
            stage.emitter.flush(&mut stage.output).await?;
            stage.metrics.state_entries.set(stage.block.state_size() as i64);
        }
        Ok(())
    }

    /// Runs a batch through the line. Its duration is observed on the first stage's histogram:
    /// chained blocks share their time.
    fn process(&mut self, batch: Batch) {
        let start = std::time::Instant::now();
        for stage in &mut self.stages {
            stage.emitter.set_now(start);
        }
        for message in batch {
            self.push(0, message);
        }
        self.stages[0].metrics.batch_duration.observe(start.elapsed().as_secs_f64());
    }

    fn deadline(&self) -> Option<Instant> {
        self.stages.iter().filter_map(|s| s.block.deadline()).min()
    }

    /// Takes back a batch a fork ran: counts it, sends what the forks emitted, and feeds what
    /// the last fork emitted on its first port to the rest of the line.
    async fn absorb(&mut self, forked: &mut Forked) -> Result<(), BlockError> {
        let start = std::time::Instant::now();
        let forks = forked.len();
        for index in 0..forks {
            self.stages[index].fed.add(forked.take_fed(index));
            if index + 1 == forks && forks < self.stages.len() {
                for stage in &mut self.stages[forks..] {
                    stage.emitter.set_now(start);
                }
                let feed = forked.emitter(index).take_port(0);
                let emptied = self.pass_on(index, feed);
                forked.emitter(index).restore_port(0, emptied);
            }
            forked.emitter(index).flush(&mut self.stages[index].output).await?;
        }
        let took = forked.took() + start.elapsed();
        self.stages[0].metrics.batch_duration.observe(took.as_secs_f64());
        self.settle(0).await
    }

    /// Runs every stage until `input` ends, then flushes them in order. With several worker
    /// threads, the stateless head of the line runs on several batches at once (see
    /// [`crate::fork`]).
    pub(crate) async fn run(mut self, input: &mut Input) -> Result<(), BlockError> {
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let mut idle: Vec<Forked> = if workers > 1 { (0..workers).map_while(|_| Forked::of(&self.stages)).collect() } else { Vec::new() };
        let parallel = !idle.is_empty();
        let mut running = FuturesOrdered::new();
        let mut open = true;
        while open || !running.is_empty() {
            let deadline = self.deadline();
            tokio::select! {
                batch = input.next(), if open && (!parallel || !idle.is_empty()) => match (batch, idle.pop()) {
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
                () = sleep_until(deadline), if deadline.is_some() => {
                    let now = Instant::now();
                    for index in 0..self.stages.len() {
                        if self.stages[index].block.deadline().is_some_and(|at| at <= now) {
                            let stage = &mut self.stages[index];
                            stage.block.on_deadline(now, &mut stage.emitter);
                            self.settle(index).await?;
                        }
                    }
                }
            }
        }
        for index in 0..self.stages.len() {
            let stage = &mut self.stages[index];
            stage.block.on_close(&mut stage.emitter);
            self.settle(index).await?;
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Chained function blocks as one task: the head runs with the task's own output, the rest
/// with theirs.
pub(crate) struct Chain {
    head: Box<dyn FunctionBlock>,
    rest: Vec<Stage>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("blocks", &(self.rest.len() + 1)).finish()
    }
}

#[async_trait]
impl Block for Chain {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Chain { head, rest } = *self;
        let RunContext { mut input, output, metrics, .. } = cx;
        let mut stages = Vec::with_capacity(rest.len() + 1);
        stages.push(Stage::new(head, output, metrics));
        stages.extend(rest);
        Line { stages }.run(&mut input).await
    }
}

/// The name a chain runs under: its blocks' names joined by `+`.
pub(crate) fn chain_name(names: &[Arc<str>]) -> Arc<str> {
    Arc::from(names.iter().map(|n| n.as_ref()).collect::<Vec<_>>().join("+"))
}

enum Built {
    Function(Box<dyn FunctionBlock>, RunContext),
    Task(Box<dyn Block>, RunContext),
}

/// Replaces every line of two or more function blocks by one [`Chain`]. `built` holds one block
/// per node, in node order. A link `a → b` is chained when `a` is a function block whose first
/// port has `b` as its only reader, `b` is a function block with no other input, and the edge
/// blocks when full (a lossy edge keeps its channel).
pub(crate) fn chain_functions(graph: &PipelineGraph, built: Vec<(Box<dyn Block>, RunContext)>) -> Vec<(Box<dyn Block>, RunContext)> {
    let mut slots: Vec<Option<Built>> = built
        .into_iter()
        .zip(graph.node_indices())
        .map(|((mut block, cx), at)| {
            let function = if graph[at].role == Role::Transform { block.take_function() } else { None };
            Some(match function {
                Some(function) => Built::Function(function, cx),
                None => Built::Task(block, cx),
            })
        })
        .collect();
    let is_function = |slots: &[Option<Built>], i: usize| matches!(slots[i], Some(Built::Function(..)));
    let mut next = vec![None; slots.len()];
    let mut has_previous = vec![false; slots.len()];
    for a in graph.node_indices() {
        let Some(first) = ports(&graph[a]).into_iter().next().filter(|p| p != ERRORS_PORT) else { continue };
        let mut readers = graph.edges_directed(a, Direction::Outgoing).filter(|e| e.weight().port == first);
        let (Some(edge), None) = (readers.next(), readers.next()) else { continue };
        let b = edge.target();
        let single_input = graph.edges_directed(b, Direction::Incoming).count() == 1;
        if a != b && single_input && edge.weight().when_full == WhenFull::Block && is_function(&slots, a.index()) && is_function(&slots, b.index()) {
            next[a.index()] = Some(b.index());
            has_previous[b.index()] = true;
        }
    }
    let mut result = Vec::new();
    for head in 0..slots.len() {
        if has_previous[head] || next[head].is_none() {
            continue;
        }
        let mut members = vec![head];
        while let Some(following) = members.last().and_then(|&m| next[m]) {
            members.push(following);
        }
        let mut names = Vec::new();
        let mut head = None;
        let mut rest = Vec::new();
        for (position, &member) in members.iter().enumerate() {
            let Some(Built::Function(block, mut cx)) = slots[member].take() else { continue };
            if position + 1 < members.len() {
                // The next block is fed directly; its channel is dropped with both of its ends.
                drop(cx.output.detach(0));
            }
            names.push(cx.name.clone());
            if position == 0 {
                head = Some((block, cx));
            } else {
                // Only the head reads an input; the others' input ends are dropped here.
                let RunContext { output, metrics, .. } = cx;
                rest.push(Stage::new(block, output, metrics));
            }
        }
        if let Some((head, mut cx)) = head {
            cx.name = chain_name(&names);
            result.push((Box::new(Chain { head, rest }) as Box<dyn Block>, cx));
        }
    }
    for slot in slots.into_iter().flatten() {
        match slot {
            Built::Function(block, cx) => result.push((Box::new(Function::new(block)) as Box<dyn Block>, cx)),
            Built::Task(block, cx) => result.push((block, cx)),
        }
    }
    result
}
