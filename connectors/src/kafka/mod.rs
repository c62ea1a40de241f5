//! Kafka: the `kafka` source and sink, on librdkafka (through the `rdkafka` crate).
//!
//! # Delivery
//!
//! At least once, end to end. The source stamps every message with an acknowledgement id and
//! tracks, per partition, the messages still in flight (`offsets`); it commits an offset only
//! once every message before it in its partition was delivered or dropped on purpose downstream,
//! so a crash at any point loses nothing (messages after the last commit are read again).
//!
//! - A message that **fails** or is **abandoned** downstream stops its partition's commit point
//!   before it; the partition is paused for `retry_backoff_ms`, sought back to that message and
//!   read again from there (what a Redpanda Connect user expects from a nacked message). Messages
//!   that had been read after it are read again too.
//! - On a **rebalance**, revoked partitions wait (at most `revoke_timeout_ms`) for their messages in
//!   flight, commit what finished, and only then go to their next owner (`context`).
//! - On **shutdown** the source stops reading, lets the pipeline drain, commits, and leaves the group.
//! - The sink acknowledges a message when the broker confirmed it; after librdkafka's retries a
//!   failed message goes to the sink's `errors` port.
//!
//! # Layout
//!
//! - [`config`]: the source's and sink's configurations and their checks.
//! - `offsets`: per-partition commit points (pure, unit-tested).
//! - `context`: the consumer's callbacks (rebalance, commit, statistics).
//! - [`source`] and [`sink`]: the running source and sink.

pub mod config;
pub(crate) mod context;
mod health;
pub mod metrics;
pub(crate) mod offsets;
pub mod sink;
pub mod source;

#[cfg(test)]
mod tests;

pub use config::{Compression, KafkaSinkConfig, KafkaSourceConfig, OptionValue, StartFrom, ValueFrom};
pub use sink::KafkaSink;
pub use source::KafkaSource;
