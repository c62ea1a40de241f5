//! The `kinesis_server` source: runnel as a Kinesis Data Streams endpoint. Producers put records
//! with the AWS SDKs or CLI (`PutRecord`, `PutRecords`), tools and consumers read them back
//! (`GetShardIterator`, `GetRecords`), and the node emits every stored record into the pipeline
//! as Lambda's Kinesis event record. A put is answered once its records are in the shard's log
//! on disk (group commit, `fsync` per group by default), so a success survives a crash.
//!
//! - [`config`]: [`KinesisServerConfig`] (listener, data folder, fsync, retention, streams,
//!   starting position).
//! - `http`: the AWS JSON 1.1 protocol: target, content type, errors, request ids.
//! - `api`: the operations and their validation, with AWS's error types and messages.
//! - `hashing`: partition keys to hash keys to shards.
//! - `sequence`: sequence numbers and shard iterators.
//! - `segment` and `shard_log`: a shard's append-only segment log (CRC-framed records, torn
//!   tails cut at open, retention by whole segments).
//! - `streams`: the streams on disk. `writer`: the group commit.
//! - `pump` and `checkpoint`: the source side, with acknowledged checkpoints per shard.
//! - [`signature`]: SigV4 verification when `credentials` are configured.
//! - [`clock`]: the time arrivals and iterators go by (a test moves it by hand).
//! - [`metrics`]: records put and throttled, bytes, group commits, fsyncs.

mod api;
mod checkpoint;
pub mod clock;
pub mod config;
mod errors;
mod hashing;
mod http;
pub mod metrics;
mod pump;
mod segment;
mod sequence;
mod shard_log;
pub mod signature;
pub mod source;
mod streams;
mod writer;

#[cfg(test)]
mod tests;

pub use config::{AckMode, KinesisServerConfig, StartingPosition, StreamConfig};
pub use source::{KinesisServer, take_address};
pub use writer::FsyncPolicy;
