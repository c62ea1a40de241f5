//! Starting a [`Pipeline`]: one bounded channel per edge, one task per node, and the
//! [`RunningPipeline`] that owns the tasks, stops the sources on shutdown and lets the rest drain.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use petgraph::visit::EdgeRef;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::block::RunContext;
use crate::channel::{EdgeReceiver, EdgeSender, Input, edge};
use crate::component::{BuildContext, BuiltBlock, Resources};
use crate::error::{BlockError, BuildError};
use crate::exec::plan::plan;
use crate::graph::{build_order, ports};
use crate::health::{Phase, PhaseHandle};
use crate::metrics::PipelineMetrics;
use crate::output::{ERRORS_PORT, Output, PortOut};
use crate::pipeline::Pipeline;

/// Blocks that failed to build.
#[derive(Debug, thiserror::Error)]
#[error("{}", .failures.iter().map(|(n, e)| format!("node `{n}`: {e}")).collect::<Vec<_>>().join("\n"))]
pub struct StartError {
    /// Each failing node and why.
    pub failures: Vec<(String, BuildError)>,
}

/// Why a pipeline stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nodes failed; the pipeline was stopped and drained.
    #[error("{}", .0.iter().map(|(n, e)| format!("node `{n}` failed: {e}")).collect::<Vec<_>>().join("\n"))]
    Failed(Vec<(Arc<str>, String)>),
    /// The shutdown deadline passed with these nodes still running; they were aborted.
    #[error("shutdown timed out after {timeout:?}; still running: {}", .nodes.join(", "))]
    TimedOut {
        /// The deadline.
        timeout: Duration,
        /// The nodes that had not finished.
        nodes: Vec<String>,
    },
}

impl Pipeline {
    /// Builds every block and spawns one task per node on the current tokio runtime.
    ///
    /// # Errors
    /// [`StartError`] listing every block that failed to build; nothing is spawned then.
    pub async fn start(self) -> Result<RunningPipeline, StartError> {
        self.start_with(PipelineMetrics::new(), PhaseHandle::default()).await
    }

    /// As [`Pipeline::start`], recording into `metrics` and reporting through `phase`.
    ///
    /// # Errors
    /// [`StartError`] listing every block that failed to build.
    pub async fn start_with(self, metrics: PipelineMetrics, phase: PhaseHandle) -> Result<RunningPipeline, StartError> {
        let Pipeline { graph, settings, resources, base_dir, state_dir, .. } = self;
        let mut senders: HashMap<(usize, String), Vec<EdgeSender>> = HashMap::new();
        let mut receivers: HashMap<usize, Vec<EdgeReceiver>> = HashMap::new();
        for e in graph.edge_references() {
            let (from, to) = (&graph[e.source()], &graph[e.target()]);
            let spec = e.weight();
            let gauge = metrics.edge(&from.name, &spec.port, &to.name, spec.capacity.get());
            let (tx, rx) = edge(spec.capacity, spec.when_full, gauge);
            senders.entry((e.source().index(), spec.port.clone())).or_default().push(tx);
            receivers.entry(e.target().index()).or_default().push(rx);
        }

        let shutdown = CancellationToken::new();
        let mut built: Vec<Option<(BuiltBlock, RunContext)>> = graph.node_indices().map(|_| None).collect();
        let mut failures = Vec::new();
        let mut failed: HashSet<&str> = HashSet::new();
        for at in build_order(&graph) {
            let node = &graph[at];
            if node.config.references().iter().any(|r| failed.contains(r.node.as_str())) {
                // A node it needs failed to build: that failure is the one to report.
                failed.insert(&node.name);
                continue;
            }
            let name: Arc<str> = Arc::from(node.name.as_str());
            let cx = BuildContext {
                name: name.clone(),
                base_dir: base_dir.clone(),
                state_dir: state_dir.clone(),
                resources: resources.clone(),
                metrics: metrics.clone(),
            };
            let block = match node.config.build(&cx).await {
                Ok(block) => block,
                Err(error) => {
                    failed.insert(&node.name);
                    failures.push((node.name.clone(), error));
                    continue;
                }
            };
            let node_metrics = metrics.node(&node.name);
            let mut take_port = |port: &str| PortOut {
                name: Arc::from(port),
                edges: senders.remove(&(at.index(), port.to_owned())).unwrap_or_default(),
                metrics: metrics.port(&node.name, port),
            };
            let all_ports = ports(node);
            let regular = all_ports.iter().filter(|p| *p != ERRORS_PORT).map(|p| take_port(p)).collect();
            let errors = take_port(ERRORS_PORT);
            let output = Output::new(name.clone(), regular, errors, node.on_error, node_metrics.clone());
            let input = Input::new(receivers.remove(&at.index()).unwrap_or_default(), node_metrics.clone());
            let readiness = phase.readiness(name.clone());
            let cx = RunContext {
                name,
                input,
                output,
                shutdown: shutdown.child_token(),
                metrics: node_metrics,
                batch_size: settings.batch_size,
                readiness,
            };
            built[at.index()] = Some((block, cx));
        }
        if !failures.is_empty() {
            return Err(StartError { failures });
        }
        let built: Vec<(BuiltBlock, RunContext)> = built.into_iter().flatten().collect();

        let mut tasks = JoinSet::new();
        let mut names = HashMap::new();
        for (name, job) in plan(&graph, built, settings.chain) {
            let span = tracing::info_span!("node", name = %name);
            let task_name = name.clone();
            let handle = tasks.spawn(
                async move {
                    let result = std::panic::AssertUnwindSafe(job.run()).catch_unwind().await;
                    let result = result.unwrap_or_else(|panic| Err(BlockError::other(panic_message(panic))));
                    (task_name, result)
                }
                .instrument(span),
            );
            names.insert(handle.id(), name);
        }
        phase.set(Phase::Running);
        Ok(RunningPipeline { tasks, names, shutdown, metrics, resources, phase, started: Instant::now() })
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown payload".to_owned());
    format!("panicked: {text}")
}

/// A started pipeline. Dropping it does not stop the tasks; call [`RunningPipeline::run_until`]
/// or [`RunningPipeline::wait`].
///
/// A pipeline with finite sources ends by itself; one that runs until told to stops its sources
/// when the shutdown future completes, lets everything downstream drain, and aborts what is
/// still running at the deadline:
///
/// ```
/// # use std::sync::{Arc, Mutex};
/// # use runnel_engine::*;
/// # use serde_json::Value;
/// # #[derive(Debug)] struct Numbers(u64);
/// # #[async_trait] impl BlockConfig for Numbers {
/// #     async fn build(&self, _: &BuildContext) -> Result<BuiltBlock, BuildError> { Ok(BuiltBlock::task(Numbers(self.0))) }
/// # }
/// # #[async_trait] impl Block for Numbers {
/// #     async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
/// #         Ok(cx.output.send((1..=self.0).map(|i| Message::new(i.into())).collect()).await?)
/// #     }
/// # }
/// # #[derive(Debug)] struct Double;
/// # impl FunctionBlock for Double {
/// #     fn process(&mut self, mut message: Message, out: &mut Emitter) {
/// #         let n = message.value().as_u64().unwrap_or(0);
/// #         *message.value_mut() = (n * 2).into();
/// #         out.emit(message);
/// #     }
/// # }
/// # #[async_trait] impl BlockConfig for Double {
/// #     async fn build(&self, _: &BuildContext) -> Result<BuiltBlock, BuildError> { Ok(BuiltBlock::function(Double)) }
/// # }
/// # #[derive(Debug, Clone, Default)] struct Collect(Arc<Mutex<Vec<Value>>>);
/// # #[async_trait] impl BlockConfig for Collect {
/// #     fn outputs(&self) -> Vec<String> { Vec::new() }
/// #     async fn build(&self, _: &BuildContext) -> Result<BuiltBlock, BuildError> { Ok(BuiltBlock::task(self.clone())) }
/// # }
/// # #[async_trait] impl Block for Collect {
/// #     async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
/// #         while let Some(batch) = cx.input.next().await {
/// #             self.0.lock().unwrap().extend(batch.iter().map(|m| m.value().clone()));
/// #             ack_batch(batch, AckStatus::Delivered);
/// #         }
/// #         Ok(())
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let pipeline = PipelineBuilder::new()
///     .source("numbers", Numbers(1000))
///     .sink("out", ["numbers"], Collect::default())
///     .build()
///     .expect("a valid graph");
/// let running = pipeline.start().await.expect("builds");
/// let metrics = running.metrics().clone();
/// let stop = running.shutdown_token(); // cancel it, or pass a signal as the future below
/// running.run_until(stop.cancelled_owned(), std::time::Duration::from_secs(5)).await.expect("drains");
/// assert_eq!(metrics.received_total("out"), 1000);
/// # }
/// ```
pub struct RunningPipeline {
    tasks: JoinSet<(Arc<str>, Result<(), BlockError>)>,
    names: HashMap<Id, Arc<str>>,
    shutdown: CancellationToken,
    metrics: PipelineMetrics,
    resources: Resources,
    phase: PhaseHandle,
    started: Instant,
}

impl fmt::Debug for RunningPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningPipeline").field("running", &self.names.len()).field("phase", &self.phase.get()).finish()
    }
}

impl RunningPipeline {
    /// The token that stops the sources; cancel it to begin a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> &PipelineMetrics {
        &self.metrics
    }

    /// Handles the blocks shared (a `memory` sink's receiver, for instance).
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// The pipeline's phase, for readiness checks.
    pub fn phase(&self) -> PhaseHandle {
        self.phase.clone()
    }

    /// When the pipeline started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Waits until every node has finished (finite sources), without a deadline.
    ///
    /// # Errors
    /// [`RunError::Failed`] if a node failed.
    pub async fn wait(self) -> Result<(), RunError> {
        self.run_until(std::future::pending::<()>(), Duration::MAX).await
    }

    /// Runs until every node has finished, or until `shutdown` completes: then the sources stop,
    /// everything downstream drains, and nodes still running after `timeout` are aborted.
    /// A failing node also starts a shutdown.
    ///
    /// # Errors
    /// [`RunError::Failed`] if a node failed; [`RunError::TimedOut`] naming the nodes that did
    /// not finish in time.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>, timeout: Duration) -> Result<(), RunError> {
        let shutdown = shutdown.fuse();
        tokio::pin!(shutdown);
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut failures: Vec<(Arc<str>, String)> = Vec::new();
        let mut downstream_closed: Vec<(Arc<str>, String)> = Vec::new();
        loop {
            let joined = tokio::select! {
                joined = self.tasks.join_next_with_id() => joined,
                () = &mut shutdown, if deadline.is_none() => {
                    tracing::info!("shutting down: stopping sources, draining the rest");
                    deadline = Some(self.begin_drain(timeout));
                    continue;
                }
                () = crate::time::sleep_until(deadline) => {
                    let mut nodes: Vec<String> = self.names.values().map(|n| n.to_string()).collect();
                    nodes.sort();
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    self.phase.set(Phase::Stopped);
                    return Err(RunError::TimedOut { timeout, nodes });
                }
            };
            let Some(joined) = joined else { break };
            match joined {
                Ok((id, (name, result))) => {
                    self.names.remove(&id);
                    match result {
                        Ok(()) => tracing::debug!(node = %name, "node finished"),
                        Err(BlockError::DownstreamClosed) => downstream_closed.push((name, BlockError::DownstreamClosed.to_string())),
                        Err(error) => {
                            tracing::error!(node = %name, %error, "node failed");
                            failures.push((name, error.to_string()));
                            if deadline.is_none() {
                                deadline = Some(self.begin_drain(timeout));
                            }
                        }
                    }
                }
                Err(error) => {
                    let name = self.names.remove(&error.id()).unwrap_or_else(|| Arc::from("?"));
                    failures.push((name, error.to_string()));
                }
            }
        }
        self.phase.set(Phase::Stopped);
        if failures.is_empty() && !downstream_closed.is_empty() && deadline.is_none() {
            failures = downstream_closed;
        }
        if failures.is_empty() { Ok(()) } else { Err(RunError::Failed(failures)) }
    }

    fn begin_drain(&self, timeout: Duration) -> tokio::time::Instant {
        self.phase.set(Phase::Draining);
        self.shutdown.cancel();
        let now = tokio::time::Instant::now();
        now.checked_add(timeout).unwrap_or(now + Duration::from_secs(86_400 * 365))
    }
}
