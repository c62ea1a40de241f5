//! runnel: a dataflow stream-processing engine for JSON message streams.
//!
//! This crate is the library an embedder uses, a small surface over the workspace:
//!
//! - pipelines: [`load`] a file with the built-in [`registry`], [`Pipeline::from_toml`], or
//!   build one in code with [`PipelineBuilder`]; [`Pipeline::start`] runs it as a
//!   [`RunningPipeline`];
//! - blocks of your own: [`FunctionBlock`] (one message at a time) or [`Block`] (a task), built by
//!   a [`BlockConfig`], named in pipeline files once registered as a [`Component`];
//! - programs that feed or read a pipeline: the `memory` source and sink's handles
//!   ([`take_input`], [`take_output`]);
//! - monitoring: [`PipelineMetrics`] and [`serve_metrics`] (within [`ListenerLimits`]);
//! - [`connectors`] and [`blocks`]: the configurations of the built-in types, for
//!   [`PipelineBuilder`].
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
//! let output = runnel::take_output(running.resources(), "out").expect("memory sink");
//! let (messages, finished) = tokio::join!(output.collect_values(), running.wait());
//! finished.expect("runs to the end");
//! assert!(messages.iter().all(|m| m["kind"] == "chat"));
//! assert!(!messages.is_empty() && messages.len() < 100);
//! # }
//! ```

pub use runnel_connectors::{MemoryInput, MemoryOutput, take_input, take_output};
pub use runnel_engine::{
    AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, CancellationToken, Component, Diagnostic, Emitter,
    FunctionBlock, ListenerLimits, Message, Metadata, OnError, Phase, PhaseHandle, Pipeline, PipelineBuilder, PipelineMetrics, PipelineSettings,
    Registry, Role, RunContext, RunError, RunningPipeline, StartError, ValidationError, async_trait, metric_names, serve_metrics,
};

/// The configurations of the built-in sources and sinks, for [`PipelineBuilder`].
pub mod connectors {
    #[cfg(feature = "http")]
    pub use runnel_connectors::HttpSinkConfig;
    #[cfg(feature = "command")]
    pub use runnel_connectors::{CommandConfig, command};
    pub use runnel_connectors::{
        FEATURES, FileSinkConfig, FileSourceConfig, GeneratorConfig, MemorySinkConfig, MemorySourceConfig, StdinConfig, StdoutConfig,
    };
    #[cfg(feature = "http-server")]
    pub use runnel_connectors::{HttpResponseConfig, HttpServerConfig, http_response, http_server};
    #[cfg(feature = "image")]
    pub use runnel_connectors::{ImageConfig, image};
    #[cfg(feature = "kafka")]
    pub use runnel_connectors::{KafkaSinkConfig, KafkaSourceConfig};
    #[cfg(feature = "kinesis")]
    pub use runnel_connectors::{KinesisServerConfig, KinesisSourceConfig, kinesis, kinesis_server};
    #[cfg(feature = "objects")]
    pub use runnel_connectors::{ObjectsConfig, objects};
    #[cfg(feature = "sql")]
    pub use runnel_connectors::{SqlLookupConfig, SqlSinkConfig, sql};
    #[cfg(feature = "websocket")]
    pub use runnel_connectors::{WebSocketServerConfig, WebSocketServerSinkConfig, WebSocketSinkConfig, WebSocketSourceConfig};
}

/// The configurations of the built-in blocks, for [`PipelineBuilder`], and [`blocks::JqProgram`],
/// a jq program compiled once (each evaluation within [`blocks::Limits`]).
pub mod blocks {
    pub use runnel_blocks::jq::Limits;
    pub use runnel_blocks::{
        BatchConfig, DedupeConfig, FilterConfig, JqError, JqProgram, LambdaConfig, MapConfig, RouteConfig, ThrottleConfig, UnbatchConfig,
        WindowConfig, event_pattern, lambda,
    };
    #[cfg(feature = "js")]
    pub use runnel_js::FunctionConfig;
}

/// Every built-in type: the blocks and the connectors (and, with the `js` feature, the
/// JavaScript `function` block).
pub fn registry() -> Registry {
    let registry = runnel_connectors::registry().merge(runnel_blocks::registry());
    #[cfg(feature = "js")]
    let registry = registry.merge(runnel_js::registry());
    registry
}

/// Reads and validates the pipeline file at `path` with the built-in registry.
///
/// # Errors
/// [`ValidationError`] with every problem found.
pub fn load(path: &std::path::Path) -> Result<Pipeline, ValidationError> {
    Pipeline::from_file(path, &registry())
}
