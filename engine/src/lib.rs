//! runnel's engine: everything a pipeline needs except concrete blocks.
//!
//! # Layout
//!
//! - [`message`]: [`Message`] (a shared JSON value, [`Metadata`], acknowledgement tokens) and [`Batch`].
//! - [`ack`]: end-to-end acknowledgements: [`AckTracker`] for sources, [`AckStatus`] outcomes.
//! - [`block`]: the [`Block`] trait (an async task) and [`FunctionBlock`] (one message at a time).
//! - [`component`]: [`BlockConfig`] (a typed config that builds a block), [`Component`] and the
//!   [`Registry`] that maps a pipeline file's `type` to configs.
//! - [`config`]: pipeline TOML → typed nodes, with `${VAR}` interpolation and located diagnostics.
//! - [`graph`]: the graph rules (names, inputs, ports, cycles, resources).
//! - [`pipeline`]: [`Pipeline`] (validated) and [`PipelineBuilder`] (pipelines in code).
//! - [`runtime`]: starting a pipeline and [`RunningPipeline`] (shutdown, drain, deadline).
//! - [`channel`] and [`output`]: bounded edges, merged [`Input`], fan-out [`Output`], error ports.
//! - [`metrics`] and [`serve`]: Prometheus metrics and the `/metrics`, `/health`, `/ready` server.
//! - [`render`]: DOT and Mermaid output of a graph.
//!
//! The engine knows no concrete block: those live in `runnel-blocks` and `runnel-connectors`.

pub mod ack;
pub mod block;
pub mod channel;
pub mod component;
pub mod config;
pub mod emitter;
pub mod error;
mod exec;
pub mod graph;
pub mod message;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod registry;
pub mod render;
pub mod runtime;
pub mod serve;
pub mod time;

pub use ack::{Ack, AckReceiver, AckStatus, AckTracker, Acks, Tokens};
pub use block::{Block, FunctionBlock, RunContext};
pub use channel::{DEFAULT_BATCH_SIZE, DEFAULT_EDGE_CAPACITY, Input, WhenFull, ack_batch};
pub use component::{BlockConfig, BuildContext, BuiltBlock, NodeRef, Resource, Resources, Role};
pub use config::{Diagnostic, Location, PipelineSettings, Severity, ValidationError};
pub use emitter::Emitter;
pub use error::{BlockError, BuildError};
pub use message::{Batch, Message, Metadata, Origin, SharedValue, Stream};
pub use metrics::PipelineMetrics;
pub use output::{DEFAULT_PORT, ERRORS_PORT, OnError, Output, PortId, error_record};
pub use pipeline::{Pipeline, PipelineBuilder};
pub use registry::{Component, Registry};
pub use runtime::{Phase, PhaseHandle, RunError, RunningPipeline, StartError};
pub use serve::serve_metrics;

/// Re-exported so block authors need not depend on these crates directly.
pub use {async_trait::async_trait, serde_json, tokio_util::sync::CancellationToken};
