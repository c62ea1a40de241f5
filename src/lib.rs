//! runnel: a dataflow stream-processing engine for JSON message streams.
//!
//! This crate is the thin facade over the workspace: [`registry`] knows every built-in block,
//! source and sink, and [`load`] reads a pipeline file with it. Everything else is re-exported
//! from [`runnel_engine`] (the engine), [`runnel_blocks`] (transforms) and
//! [`runnel_connectors`] (sources and sinks).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let pipeline = runnel::Pipeline::from_toml(r#"
//!     [sources.chat]
//!     type = "generator"
//!     count = 100
//!
//!     [blocks.chatter]
//!     type = "filter"
//!     inputs = ["chat"]
//!     condition = '.kind == "chat"'
//!
//!     [sinks.out]
//!     type = "memory"
//!     inputs = ["chatter"]
//! "#, &runnel::registry()).expect("valid pipeline");
//! let running = pipeline.start().await.expect("blocks build");
//! let output = runnel::connectors::take_output(running.resources(), "out").expect("memory sink");
//! let (messages, finished) = tokio::join!(output.collect_values(), running.wait());
//! finished.expect("runs to the end");
//! assert!(messages.iter().all(|m| m["kind"] == "chat"));
//! assert!(!messages.is_empty() && messages.len() < 100);
//! # }
//! ```

pub use runnel_blocks as blocks;
pub use runnel_connectors as connectors;
pub use runnel_engine as engine;
pub use runnel_engine::{
    Block, BlockConfig, BuildContext, BuiltBlock, Component, Emitter, FunctionBlock, Message, Pipeline, PipelineBuilder, Registry, RunningPipeline,
    ValidationError,
};

/// Every built-in type: the blocks and the connectors.
pub fn registry() -> Registry {
    runnel_connectors::registry().merge(runnel_blocks::registry())
}

/// Reads and validates the pipeline file at `path` with the built-in registry.
///
/// # Errors
/// [`ValidationError`] with every problem found.
pub fn load(path: &std::path::Path) -> Result<Pipeline, ValidationError> {
    Pipeline::from_file(path, &registry())
}
