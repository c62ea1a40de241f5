//! runnel's engine: everything a pipeline needs except concrete blocks.
//!
//! Every public item is at the crate's root; the modules are private, so each has one path.
//!
//! # Layout
//!
//! - `message`: [`Message`] (a shared JSON value, [`Metadata`], acknowledgement tokens) and [`Batch`].
//! - `ack`: end-to-end acknowledgements: [`AckTracker`] for sources, [`AckStatus`] outcomes.
//! - `block` and `emitter`: the block traits, [`Block`] (an async task) and [`FunctionBlock`] (one
//!   message at a time, collecting into an [`Emitter`]), and the [`RunContext`] a task gets.
//! - `component`: [`BlockConfig`] (a typed config that builds a [`BuiltBlock`]), what it may use
//!   ([`BuildContext`], [`Resources`]) and declare ([`Resource`], [`NodeRef`]).
//! - `registry`: [`Component`] (a config a pipeline file names by `type`) and the [`Registry`].
//! - `config`: pipeline TOML → typed nodes, with `${VAR}` interpolation and located [`Diagnostic`]s.
//! - `graph`: the graph rules (names, inputs, ports, cycles, resources, references) and the
//!   build order.
//! - `pipeline`: [`Pipeline`] (validated) and [`PipelineBuilder`] (pipelines in code).
//! - `runtime`: starting a pipeline and [`RunningPipeline`] (shutdown, drain, deadline).
//! - `exec`: the plan of tasks (operator chaining) and the loops that run function blocks.
//! - `channel` and `output`: bounded edges, merged [`Input`], fan-out [`Output`], error ports.
//! - `metrics` and `serve`: [`PipelineMetrics`] ([`metric_names`]; components register their
//!   own families) and the `/metrics`, `/health`, `/ready` server.
//! - `listen`: [`HttpListener`], the accept loop of every HTTP listener, with [`ListenerLimits`]
//!   on connections that are not WebSockets (header-read and idle timeouts, a cap) and accept
//!   errors counted and logged.
//! - `render`: DOT and Mermaid text of a pipeline's graph ([`Pipeline::to_dot`]).
//!
//! The engine knows no concrete block: those live in `runnel-blocks` and `runnel-connectors`.

mod ack;
mod block;
mod channel;
mod component;
mod concurrent;
mod config;
mod emitter;
mod error;
mod exec;
mod graph;
mod health;
mod listen;
mod log_limit;
mod message;
mod metrics;
mod output;
mod pipeline;
mod registry;
mod render;
mod runtime;
mod serve;
mod span;
mod time;

pub use ack::{Ack, AckReceiver, AckStatus, AckTracker, Acks, Tokens};
pub use block::{AsyncFunctionBlock, Block, FunctionBlock, RunContext};
pub use channel::{Closed, DEFAULT_BATCH_SIZE, DEFAULT_EDGE_CAPACITY, Input, MAX_BATCH_SIZE, MAX_EDGE_MESSAGES, WhenFull, ack_batch};
pub use component::{BlockConfig, BuildContext, BuiltBlock, NodeRef, Resource, Resources, Role};
pub use config::{Diagnostic, Location, PipelineSettings, Severity, ValidationError};
pub use emitter::Emitter;
pub use error::{BlockError, BuildError, error_chain};
pub use health::{Phase, PhaseHandle, Readiness};
pub use listen::{HttpListener, ListenerLimits};
pub use log_limit::LogLimiter;
pub use message::{Batch, ExactNumbers, Message, Metadata, Origin, SharedValue, Stream};
pub use metrics::{AckMetrics, NodeMetrics, PipelineMetrics, PortMetrics, names as metric_names};
pub use output::{DEFAULT_PORT, ERRORS_PORT, OnError, Output, PortId, error_record, error_record_with};
pub use pipeline::{Pipeline, PipelineBuilder};
pub use registry::{Component, Entry, FieldError, Registry};
pub use runtime::{RunError, RunningPipeline, StartError};
pub use serve::serve_metrics;
pub use span::Span;
pub use time::sleep_until;

/// Re-exported so block authors need not depend on these crates directly.
pub use {async_trait::async_trait, serde_json, tokio_util::sync::CancellationToken};
