//! The plan of tasks: what each node built, turned into the tasks to spawn. Lines of function
//! blocks, each the only reader of the previous one's first port, become one task (operator
//! chaining, as Flink and timely chain operators); every other node is a task of its own.
//! This runs once at start; the loops it plans live in [`super::line`].

use std::sync::Arc;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::line::{Line, Side};
use crate::block::{Block, FunctionBlock, RunContext};
use crate::channel::WhenFull;
use crate::component::BuiltBlock;
use crate::error::BlockError;
use crate::graph::{PipelineGraph, ports};
use crate::output::ERRORS_PORT;

/// One task to spawn.
pub(crate) enum Job {
    /// A node's own task: a source, a sink or a stream-to-stream block.
    Task(Box<dyn Block>, Box<RunContext>),
    /// Function blocks run in one loop over the first one's input.
    Line(Box<Line>),
}

impl Job {
    /// Runs the task to its end.
    pub(crate) async fn run(self) -> Result<(), BlockError> {
        match self {
            Self::Task(block, cx) => block.run(*cx).await,
            Self::Line(line) => line.run().await,
        }
    }
}

/// Plans the tasks of the nodes of `graph`. `built` holds, for each node in node order, what it
/// built and the context it runs with. With `chain`, a link `a → b` is chained when `a` and `b`
/// are function blocks, `b` is the only reader of `a`'s first port and has no other input,
/// and the edge blocks when full (a lossy edge keeps its channel). Returns each task with the
/// name it runs under (`a+b+c` for a chain).
pub(crate) fn plan(graph: &PipelineGraph, built: Vec<(BuiltBlock, RunContext)>, chain: bool) -> Vec<(Arc<str>, Job)> {
    let is_function: Vec<bool> = built.iter().map(|(b, _)| matches!(b, BuiltBlock::Function(_))).collect();
    let next = if chain { links(graph, &is_function) } else { vec![None; built.len()] };
    let mut has_previous = vec![false; built.len()];
    for following in next.iter().flatten() {
        has_previous[*following] = true;
    }
    let mut slots: Vec<Option<(BuiltBlock, RunContext)>> = built.into_iter().map(Some).collect();
    let mut jobs = Vec::new();
    for head in 0..slots.len() {
        if has_previous[head] {
            continue;
        }
        let Some((built, cx)) = slots[head].take() else { continue };
        match built {
            BuiltBlock::Task(block) => jobs.push((cx.name.clone(), Job::Task(block, Box::new(cx)))),
            BuiltBlock::Function(block) => {
                let mut rest = Vec::new();
                let mut at = head;
                while let Some(following) = next[at] {
                    if let Some((BuiltBlock::Function(block), cx)) = slots[following].take() {
                        rest.push((block, cx));
                    }
                    at = following;
                }
                jobs.push(line(block, cx, rest));
            }
        }
    }
    jobs
}

/// For each node, the node it feeds directly when chained.
fn links(graph: &PipelineGraph, is_function: &[bool]) -> Vec<Option<usize>> {
    let mut next = vec![None; is_function.len()];
    for a in graph.node_indices() {
        let Some(first) = ports(&graph[a]).into_iter().next().filter(|p| p != ERRORS_PORT) else { continue };
        let mut readers = graph.edges_directed(a, Direction::Outgoing).filter(|e| e.weight().port == first);
        let (Some(edge), None) = (readers.next(), readers.next()) else { continue };
        let b: NodeIndex = edge.target();
        let single_input = graph.edges_directed(b, Direction::Incoming).count() == 1;
        if a != b && single_input && edge.weight().when_full == WhenFull::Block && is_function[a.index()] && is_function[b.index()] {
            next[a.index()] = Some(b.index());
        }
    }
    next
}

/// The name a chain runs under: its blocks' names joined by `+`.
fn chain_name(names: &[Arc<str>]) -> Arc<str> {
    Arc::from(names.iter().map(|n| n.as_ref()).collect::<Vec<_>>().join("+"))
}

/// One task for a line of function blocks: the first reads the input, each feeds the next
/// through its first port.
fn line(head: Box<dyn FunctionBlock>, cx: RunContext, rest: Vec<(Box<dyn FunctionBlock>, RunContext)>) -> (Arc<str>, Job) {
    let RunContext { name, input, output, metrics, .. } = cx;
    let mut names = vec![name];
    let mut line = Line::new(head, Side { output, metrics }, input);
    for (block, cx) in rest {
        // Only the head reads an input; the others' input ends are dropped here.
        let RunContext { name, output, metrics, .. } = cx;
        names.push(name);
        line.extend(block, Side { output, metrics });
    }
    (chain_name(&names), Job::Line(Box::new(line)))
}
