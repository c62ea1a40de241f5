//! [`Pipeline`]: a checked graph ready to start, made from a pipeline file or in code with
//! [`PipelineBuilder`].

use std::path::{Path, PathBuf};

use crate::component::{BlockConfig, Resources, Role};
use crate::config::{self, Diagnostic, InputSpec, NodeSpec, PipelineSettings, Severity, ValidationError};
use crate::graph::{self, PipelineGraph};
use crate::output::OnError;
use crate::registry::Registry;

/// A validated pipeline: every node typed, every rule checked. Start it with [`Pipeline::start`].
#[derive(Debug)]
pub struct Pipeline {
    pub(crate) graph: PipelineGraph,
    pub(crate) settings: PipelineSettings,
    pub(crate) warnings: Vec<Diagnostic>,
    pub(crate) base_dir: PathBuf,
    /// Where nodes keep state across restarts; see [`BuildContext::state_dir`](crate::BuildContext::state_dir).
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) resources: Resources,
}

impl Pipeline {
    /// Parses and validates pipeline TOML, taking `${VAR}` values from the process environment.
    ///
    /// # Errors
    /// [`ValidationError`] with every problem found, each with its position.
    pub fn from_toml(text: &str, registry: &Registry) -> Result<Self, ValidationError> {
        Self::parse(text, None, registry, |name| std::env::var(name).ok())
    }

    /// Reads, parses and validates a pipeline file.
    ///
    /// # Errors
    /// [`ValidationError`] if the file cannot be read or has problems.
    pub fn from_file(path: &Path, registry: &Registry) -> Result<Self, ValidationError> {
        let text = std::fs::read_to_string(path).map_err(|e| ValidationError {
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                location: None,
                node: None,
                message: format!("cannot read {}: {e}", path.display()),
            }],
        })?;
        Self::parse(&text, Some(path.to_owned()), registry, |name| std::env::var(name).ok())
    }

    /// Parses with an explicit environment, for tests and embedding.
    ///
    /// # Errors
    /// [`ValidationError`] with every problem found.
    pub fn parse(text: &str, file: Option<PathBuf>, registry: &Registry, env: impl Fn(&str) -> Option<String>) -> Result<Self, ValidationError> {
        let base_dir = file.as_deref().and_then(Path::parent).map(Path::to_owned).unwrap_or_default();
        let state_dir = file.as_deref().map(|file| state_dir_of(&base_dir, file));
        let mut diagnostics = Vec::new();
        let parsed = config::parse(text, file, registry, env, &mut diagnostics);
        let settings = parsed.as_ref().map(|p| p.settings).unwrap_or_default();
        let nodes = parsed.map(|p| p.nodes).unwrap_or_default();
        let mut pipeline = Self::assemble(nodes, settings, base_dir, diagnostics)?;
        pipeline.state_dir = state_dir;
        Ok(pipeline)
    }

    fn assemble(
        nodes: Vec<NodeSpec>,
        settings: PipelineSettings,
        base_dir: PathBuf,
        mut diagnostics: Vec<Diagnostic>,
    ) -> Result<Self, ValidationError> {
        let parse_failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
        let graph = graph::check(nodes, &settings, &mut diagnostics);
        sort(&mut diagnostics);
        match graph {
            Some(graph) if !parse_failed => {
                Ok(Self { graph, settings, warnings: diagnostics, base_dir, state_dir: None, resources: Resources::default() })
            }
            _ => Err(ValidationError { diagnostics }),
        }
    }

    /// Warnings found while validating (the pipeline can run anyway).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// How many nodes and edges the graph has.
    pub fn size(&self) -> (usize, usize) {
        (self.graph.node_count(), self.graph.edge_count())
    }

    /// The names of the nodes of `role`, in the order they were declared.
    pub fn node_names(&self, role: Role) -> Vec<String> {
        self.graph.node_weights().filter(|n| n.role == role).map(|n| n.name.clone()).collect()
    }

    /// Every node's name, role and `type`, in the order they were declared.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, Role, &str)> {
        self.graph.node_weights().map(|n| (n.name.as_str(), n.role, n.type_name.as_str()))
    }

    /// The graph as Graphviz DOT text.
    pub fn to_dot(&self) -> String {
        crate::render::to_dot(&self.graph)
    }

    /// The graph as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        crate::render::to_mermaid(&self.graph)
    }

    /// Pipeline-wide settings.
    pub fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    /// Handles shared with the blocks (a `memory` sink's receiver, for instance), available
    /// once the pipeline has started.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }
}

/// The state folder of the pipeline in `file`: `.runnel/<file stem>/` beside it, so that two
/// pipelines in one folder keep their state apart.
fn state_dir_of(base_dir: &Path, file: &Path) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "pipeline".into(), |s| s.to_string_lossy());
    base_dir.join(".runnel").join(&*stem)
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| {
        let position = d.location.as_ref().map_or((usize::MAX, 0), |l| (l.line, l.column));
        (d.severity == Severity::Warning, position)
    });
}

/// Builds a [`Pipeline`] in code, with the same checks as a pipeline file. Nodes take any
/// [`BlockConfig`]: your own, or a registered type's configuration parsed by the [`Registry`].
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
/// let collected = Collect::default();
/// let pipeline = PipelineBuilder::new()
///     .source("numbers", Numbers(3))
///     .block("double", ["numbers"], Double)
///     .sink("out", ["double"], collected.clone())
///     .build()
///     .expect("a valid graph");
/// pipeline.start().await.expect("builds").wait().await.expect("runs to the end");
/// assert_eq!(*collected.0.lock().unwrap(), [2, 4, 6]);
///
/// // The same rules as a pipeline file: every problem, at once.
/// let error = PipelineBuilder::new().source("a", Numbers(1)).sink("b", ["missing"], Collect::default()).build().unwrap_err();
/// assert!(error.to_string().contains("unknown input `missing`"));
/// # }
/// ```
#[derive(Debug, Default)]
pub struct PipelineBuilder {
    nodes: Vec<NodeSpec>,
    settings: PipelineSettings,
}

impl PipelineBuilder {
    /// An empty pipeline with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the pipeline-wide settings.
    #[must_use]
    pub fn with_settings(mut self, settings: PipelineSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Adds a source.
    #[must_use]
    pub fn source(self, name: &str, config: impl BlockConfig) -> Self {
        self.node(name, Role::Source, Vec::<String>::new(), config)
    }

    /// Adds a block reading `inputs` (`node` or `node.port`).
    #[must_use]
    pub fn block<I: AsRef<str>>(self, name: &str, inputs: impl IntoIterator<Item = I>, config: impl BlockConfig) -> Self {
        self.node(name, Role::Transform, inputs, config)
    }

    /// Adds a sink reading `inputs`.
    #[must_use]
    pub fn sink<I: AsRef<str>>(self, name: &str, inputs: impl IntoIterator<Item = I>, config: impl BlockConfig) -> Self {
        self.node(name, Role::Sink, inputs, config)
    }

    /// Sets the `on_error` policy of the node added last.
    #[must_use]
    pub fn on_error(mut self, policy: OnError) -> Self {
        if let Some(node) = self.nodes.last_mut() {
            node.on_error = policy;
        }
        self
    }

    fn node<I: AsRef<str>>(mut self, name: &str, role: Role, inputs: impl IntoIterator<Item = I>, config: impl BlockConfig) -> Self {
        self.nodes.push(NodeSpec {
            name: name.to_owned(),
            role,
            type_name: "custom".to_owned(),
            config: Box::new(config),
            inputs: inputs.into_iter().map(|i| InputSpec::parse(i.as_ref())).collect(),
            on_error: OnError::default(),
            location: None,
            field_locations: std::collections::BTreeMap::new(),
            checked: true,
        });
        self
    }

    /// Checks the graph.
    ///
    /// # Errors
    /// [`ValidationError`] with every problem found.
    pub fn build(self) -> Result<Pipeline, ValidationError> {
        let mut diagnostics: Vec<Diagnostic> =
            self.settings.problems().into_iter().map(|(_, problem)| Diagnostic::error(None, None, format!("settings: {problem}"))).collect();
        for node in &self.nodes {
            diagnostics.extend(node.config.validate().into_iter().map(|message| Diagnostic {
                severity: Severity::Error,
                location: None,
                node: Some(node.name.clone()),
                message,
            }));
        }
        Pipeline::assemble(self.nodes, self.settings, PathBuf::new(), diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lives_beside_the_pipeline_file_under_its_stem() {
        assert_eq!(state_dir_of(Path::new("pipelines"), Path::new("pipelines/chat.toml")), Path::new("pipelines/.runnel/chat"));
        assert_eq!(state_dir_of(Path::new(""), Path::new("p.toml")), Path::new(".runnel/p"));
    }
}
