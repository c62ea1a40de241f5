//! runnel's sources and sinks.
//!
//! # Layout
//!
//! - [`generator`]: synthetic chat events at a rate or count.
//! - [`file_source`] and [`stdin`]: NDJSON lines in; a malformed line is an error naming its line.
//!   The file source reads globs, follows rotation, and resumes from acknowledged checkpoints.
//! - [`file_sink`] and [`stdout`]: NDJSON lines out, acknowledged once written.
//! - [`http`]: an HTTP sink (webhook out): batching, retries with backoff, request signing; and
//!   the `http` block, a call per message whose answer is merged in (enrichment).
//! - [`kafka`]: a Kafka source (consumer groups, at-least-once commits) and sink.
//! - [`memory`]: channels between a pipeline and the program embedding it.
//! - [`websocket`]: a WebSocket client source and sink (reconnecting, with keepalive).
//! - [`websocket_server`]: a WebSocket server with channels, as a source and a sink.
//! - [`http_server`]: an HTTP server that takes webhooks in: routes, body formats, bearer
//!   tokens and HMAC signatures, answers driven by acknowledgements.
//! - [`ethereum`]: an Ethereum node's event logs or blocks, with confirmations, reorganisations
//!   retracted, and resume after reconnections and restarts.
//! - [`bigchaindb`]: a BigchainDB node's valid transactions, in height order, without gaps.
//! - [`command`]: a block running a program per message (jobs), arguments never seen by a shell.
//! - [`sql`]: rows into SQLite in transactions, a refused row failing alone.
//! - [`http_response`]: the reply half of request/response: answers the requests of
//!   `http_server` routes with `ack = "reply"`.
//! - [`kinesis`]: a Kinesis consumer (every shard, resharding, acknowledged checkpoints).
//! - [`image`]: a block producing an image's variants through thumbor or Cloudinary.
//! - [`kinesis_server`]: a Kinesis Data Streams endpoint whose shards are durable segment logs; it
//!   emits the stored records as Lambda's Kinesis event records.
//! - [`auth`]: bearer tokens and JWTs, shared by the two servers.
//! - [`template`]: `{field}` templates filled from messages (URLs percent-encoded, channel names
//!   as they are), shared by the HTTP and WebSocket connectors.
//! - `ndjson` and `sink_writer`: the line reading and writing those share.
//!
//! [`registry`] lists every type a pipeline file can name.

#[cfg(any(feature = "websocket", feature = "http-server"))]
pub mod auth;
#[cfg(feature = "bigchaindb")]
pub mod bigchaindb;
#[cfg(feature = "command")]
pub mod command;
#[cfg(feature = "ethereum")]
pub mod ethereum;
pub mod file_sink;
pub mod file_source;
pub mod generator;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http-server")]
pub mod http_response;
#[cfg(feature = "http-server")]
pub mod http_server;
#[cfg(feature = "image")]
pub mod image;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kinesis")]
pub mod kinesis;
#[cfg(feature = "kinesis")]
pub mod kinesis_server;
pub mod memory;
#[cfg(feature = "objects")]
pub mod objects;
#[cfg(feature = "sql")]
pub mod sql;
pub mod stdin;
pub mod stdout;
#[cfg(any(feature = "http", feature = "websocket", feature = "command", feature = "objects"))]
pub mod template;
pub mod timer;
#[cfg(any(feature = "websocket", feature = "sql"))]
pub mod tls;
#[cfg(feature = "websocket")]
pub mod websocket;
#[cfg(feature = "websocket")]
pub mod websocket_server;

mod codec;
#[cfg(any(feature = "http", feature = "command", feature = "sql", feature = "objects"))]
mod field_path;
mod ndjson;
mod numbers;
mod progress;
mod reader;
mod sink_writer;
mod state_file;

use runnel_engine::Registry;

#[cfg(feature = "bigchaindb")]
pub use bigchaindb::BigchainDbSourceConfig;
#[cfg(feature = "command")]
pub use command::CommandConfig;
#[cfg(feature = "ethereum")]
pub use ethereum::EthereumSourceConfig;
pub use file_sink::FileSinkConfig;
pub use file_source::FileSourceConfig;
pub use generator::GeneratorConfig;
#[cfg(feature = "http")]
pub use http::{HttpBlockConfig, HttpSinkConfig};
#[cfg(feature = "http-server")]
pub use http_response::HttpResponseConfig;
#[cfg(feature = "http-server")]
pub use http_server::HttpServerConfig;
#[cfg(feature = "image")]
pub use image::ImageConfig;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaSinkConfig, KafkaSourceConfig};
#[cfg(feature = "kinesis")]
pub use kinesis::KinesisSourceConfig;
#[cfg(feature = "kinesis")]
pub use kinesis_server::KinesisServerConfig;
pub use memory::{MemoryInput, MemoryOutput, MemorySinkConfig, MemorySourceConfig, take_input, take_output};
#[cfg(feature = "objects")]
pub use objects::ObjectsConfig;
#[cfg(feature = "sql")]
pub use sql::{SqlLookupConfig, SqlSinkConfig};
pub use stdin::StdinConfig;
pub use stdout::StdoutConfig;
pub use timer::TimerConfig;
#[cfg(feature = "websocket")]
pub use websocket::{WebSocketSinkConfig, WebSocketSourceConfig};
#[cfg(feature = "websocket")]
pub use websocket_server::{WebSocketServerConfig, WebSocketServerSinkConfig};

/// Every source, sink and connector block type, by the `type` name pipeline files use.
pub fn registry() -> Registry {
    let registry = Registry::new()
        .with::<GeneratorConfig>()
        .with::<TimerConfig>()
        .with::<FileSourceConfig>()
        .with::<StdinConfig>()
        .with::<MemorySourceConfig>()
        .with::<FileSinkConfig>()
        .with::<StdoutConfig>()
        .with::<MemorySinkConfig>();
    #[cfg(feature = "http")]
    let registry = registry.with::<HttpSinkConfig>().with::<HttpBlockConfig>();
    #[cfg(feature = "kafka")]
    let registry = registry.with::<KafkaSourceConfig>().with::<KafkaSinkConfig>();
    #[cfg(feature = "websocket")]
    let registry =
        registry.with::<WebSocketSourceConfig>().with::<WebSocketSinkConfig>().with::<WebSocketServerConfig>().with::<WebSocketServerSinkConfig>();
    #[cfg(feature = "http-server")]
    let registry = registry.with::<HttpServerConfig>().with::<HttpResponseConfig>();
    #[cfg(feature = "ethereum")]
    let registry = registry.with::<EthereumSourceConfig>();
    #[cfg(feature = "bigchaindb")]
    let registry = registry.with::<BigchainDbSourceConfig>();
    #[cfg(feature = "image")]
    let registry = registry.with::<ImageConfig>();
    #[cfg(feature = "kinesis")]
    let registry = registry.with::<KinesisSourceConfig>().with::<KinesisServerConfig>();
    #[cfg(feature = "command")]
    let registry = registry.with::<CommandConfig>();
    #[cfg(feature = "sql")]
    let registry = registry.with::<SqlSinkConfig>().with::<SqlLookupConfig>();
    #[cfg(feature = "objects")]
    let registry = registry.with::<ObjectsConfig>();
    registry
}

/// The connector families this crate was built with (its Cargo features).
pub const FEATURES: &[&str] = &[
    #[cfg(feature = "http")]
    "http",
    #[cfg(feature = "kafka")]
    "kafka",
    #[cfg(feature = "websocket")]
    "websocket",
    #[cfg(feature = "http-server")]
    "http-server",
    #[cfg(feature = "ethereum")]
    "ethereum",
    #[cfg(feature = "bigchaindb")]
    "bigchaindb",
    #[cfg(feature = "image")]
    "image",
    #[cfg(feature = "kinesis")]
    "kinesis",
    #[cfg(feature = "command")]
    "command",
    #[cfg(feature = "sql")]
    "sql",
    #[cfg(feature = "objects")]
    "objects",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_deserialises_and_validates() {
        assert_eq!(registry().example_problems(), Vec::<String>::new());
    }
}
