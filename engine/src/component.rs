//! Configurations that build blocks: [`BlockConfig`], what it built ([`BuiltBlock`]), what it
//! may use while building ([`BuildContext`], [`Resources`]) and what it declares about itself
//! for the graph rules ([`Resource`], [`NodeRef`]).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::block::{AsyncFunctionBlock, Block, FunctionBlock};
use crate::error::BuildError;
use crate::metrics::PipelineMetrics;
use crate::output::DEFAULT_PORT;

/// What part a node plays in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Produces messages; has no inputs.
    Source,
    /// Consumes and produces messages.
    Transform,
    /// Consumes messages and delivers them outside; has only the `errors` output.
    Sink,
}

impl Role {
    /// What a node of this role is called: `source`, `block` or `sink`.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Transform => "block",
            Self::Sink => "sink",
        }
    }

    /// The pipeline file section of this role: `sources`, `blocks` or `sinks`.
    pub fn section(self) -> &'static str {
        match self {
            Self::Source => "sources",
            Self::Transform => "blocks",
            Self::Sink => "sinks",
        }
    }
}

/// Something only one node of a pipeline may use (a file written, a port bound, stdin).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    /// What kind of thing: `file`, `listen`, `stdin`...
    pub kind: &'static str,
    /// Which one: a path, an address.
    pub id: String,
}

impl Resource {
    /// A resource of `kind` named `id`.
    pub fn new(kind: &'static str, id: impl Into<String>) -> Self {
        Self { kind, id: id.into() }
    }

    /// A file of `kind`, named by its path with `.` and `a/..` taken out, so that two spellings
    /// of one path are one resource (the file need not exist yet):
    ///
    /// ```
    /// # use runnel_engine::Resource;
    /// assert_eq!(Resource::path("file", "./out/../out.ndjson".as_ref()), Resource::path("file", "out.ndjson".as_ref()));
    /// ```
    pub fn path(kind: &'static str, path: &std::path::Path) -> Self {
        use std::path::Component;
        let mut normal = PathBuf::new();
        for part in path.components() {
            match part {
                Component::CurDir => {}
                Component::ParentDir if matches!(normal.components().next_back(), Some(Component::Normal(_))) => {
                    normal.pop();
                }
                other => normal.push(other),
            }
        }
        Self::new(kind, normal.display().to_string())
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind, self.id)
    }
}

/// Handles shared between the pipeline and the program that runs it, by name: how a library
/// user reaches a `memory` source's sender or a `memory` sink's receiver.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    inner: Arc<Mutex<HashMap<String, Box<dyn Any + Send>>>>,
}

impl Resources {
    /// Stores `value` under `key`, replacing what was there.
    pub fn insert<T: Any + Send>(&self, key: impl Into<String>, value: T) {
        self.lock().insert(key.into(), Box::new(value));
    }

    /// Takes the value stored under `key`, if there is one of type `T`.
    pub fn take<T: Any + Send>(&self, key: &str) -> Option<T> {
        let mut map = self.lock();
        let value = map.remove(key)?;
        match value.downcast::<T>() {
            Ok(value) => Some(*value),
            Err(value) => {
                map.insert(key.to_owned(), value);
                None
            }
        }
    }

    /// A clone of the value stored under `key`, if there is one of type `T`; it stays stored.
    pub fn get<T: Any + Send + Clone>(&self, key: &str) -> Option<T> {
        self.lock().get(key)?.downcast_ref::<T>().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Box<dyn Any + Send>>> {
        // A panic while holding this lock leaves the map consistent (single inserts/removes).
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What [`BlockConfig::build`] may use.
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// The node's name.
    pub name: Arc<str>,
    /// The folder of the pipeline file: relative paths in a configuration are relative to it.
    pub base_dir: PathBuf,
    /// Where nodes keep state across restarts (a file source's checkpoints): `.runnel/<pipeline
    /// file stem>/` in the pipeline file's folder. `None` for a pipeline not read from a file
    /// (built in code, or parsed from text): such a node keeps no state unless told where.
    pub state_dir: Option<PathBuf>,
    /// Handles shared with the program running the pipeline.
    pub resources: Resources,
    /// The pipeline's metrics, where a component registers the metric families of its own.
    pub metrics: PipelineMetrics,
}

impl BuildContext {
    /// `path` resolved against the pipeline file's folder.
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.base_dir.join(path) }
    }
}

/// A reference from one node's configuration to another node of the pipeline, such as a
/// `websocket_server` sink's `server = "ws"`. The graph rules check that the node exists and
/// provides `kind`, and the engine builds it first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRef {
    /// The configuration field that holds the reference, to point errors at it.
    pub field: &'static str,
    /// The name of the node referred to.
    pub node: String,
    /// What the node must provide (see [`BlockConfig::provides`]), such as `websocket_server`.
    pub kind: &'static str,
}

impl NodeRef {
    /// A reference to `node`, held in `field`, that must provide `kind`.
    pub fn new(field: &'static str, node: impl Into<String>, kind: &'static str) -> Self {
        Self { field, node: node.into(), kind }
    }
}

/// What [`BlockConfig::build`] built: the engine runs a function block in a loop of its own
/// (chained with its neighbours where it can), and a task as it is.
pub enum BuiltBlock {
    /// A block called once per message; the engine runs the loop.
    Function(Box<dyn FunctionBlock>),
    /// A task that runs until its input ends or the pipeline shuts down: sources, sinks and
    /// stream-to-stream blocks.
    Task(Box<dyn Block>),
}

impl BuiltBlock {
    /// A function block.
    pub fn function(block: impl FunctionBlock) -> Self {
        Self::Function(Box::new(block))
    }

    /// An asynchronous function block, with up to `limit` calls in flight at once; `ordered`
    /// sends each message's results in input order, otherwise as calls finish. It runs as a
    /// task of its own (it is not chained with function blocks).
    pub fn concurrent(block: impl AsyncFunctionBlock, limit: NonZeroUsize, ordered: bool) -> Self {
        Self::Task(Box::new(crate::concurrent::Concurrent { block: Arc::new(block), limit, ordered }))
    }

    /// A task.
    pub fn task(block: impl Block) -> Self {
        Self::Task(Box::new(block))
    }
}

impl fmt::Debug for BuiltBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Function(_) => "BuiltBlock::Function",
            Self::Task(_) => "BuiltBlock::Task",
        })
    }
}

/// A validated node configuration that can build its block.
#[async_trait]
pub trait BlockConfig: fmt::Debug + Send + Sync + 'static {
    /// The node's output ports besides `errors`, the first being the default. Sinks have none,
    /// whatever this returns.
    fn outputs(&self) -> Vec<String> {
        vec![DEFAULT_PORT.to_owned()]
    }

    /// Things only this node may use, checked across the pipeline before it starts.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    /// Other nodes this one refers to, checked by the graph rules and built before this one.
    fn references(&self) -> Vec<NodeRef> {
        Vec::new()
    }

    /// What this node provides to nodes that refer to it (the `kind` of a [`NodeRef`]).
    fn provides(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Checks what deserialisation cannot (ranges, expressions); every problem at once. A
    /// problem that starts with a field's name in backticks (`` `topics`: ... ``, or
    /// `` `window.size` ... ``) is located at that field's value, others at the node.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }

    /// Checks what needs the pipeline file's folder, such as a handler file the configuration
    /// names (relative paths resolve against `base_dir`); called, after [`BlockConfig::validate`],
    /// only for a pipeline read from a file. Problems are located as `validate`'s are.
    fn validate_files(&self, base_dir: &std::path::Path) -> Vec<String> {
        let _ = base_dir;
        Vec::new()
    }

    /// Builds the block. Opens files and binds ports, but spawns nothing: the engine runs what
    /// it returns. The nodes named by [`BlockConfig::references`] are built already.
    ///
    /// # Errors
    /// [`BuildError`] when a file cannot be opened or a port bound.
    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError>;
}

/// A configuration from [`crate::registry::Entry::parse`] can be given to [`crate::PipelineBuilder`] as it is.
#[async_trait]
impl BlockConfig for Box<dyn BlockConfig> {
    fn outputs(&self) -> Vec<String> {
        (**self).outputs()
    }

    fn resources(&self) -> Vec<Resource> {
        (**self).resources()
    }

    fn references(&self) -> Vec<NodeRef> {
        (**self).references()
    }

    fn provides(&self) -> Vec<&'static str> {
        (**self).provides()
    }

    fn validate(&self) -> Vec<String> {
        (**self).validate()
    }

    fn validate_files(&self, base_dir: &std::path::Path) -> Vec<String> {
        (**self).validate_files(base_dir)
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        (**self).build(cx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_hand_values_over_by_type() {
        let resources = Resources::default();
        resources.insert("a", 5_u32);
        assert_eq!(resources.take::<String>("a"), None);
        assert_eq!(resources.take::<u32>("a"), Some(5));
        assert_eq!(resources.take::<u32>("a"), None);
    }
}
