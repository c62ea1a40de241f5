//! Kinesis: the `kinesis` source, a consumer of a Kinesis stream (AWS's or any endpoint that
//! speaks its API), and what runnel's Kinesis connectors share.
//!
//! - [`consumer`]: the `kinesis` source.
//! - [`sigv4`]: request signing for the consumer.
//! - [`wire`]: the requests, responses and error body of the Kinesis Data Streams API (AWS JSON 1.1).
//! - [`record`]: a record as Lambda's Kinesis event record, the value both Kinesis sources emit.

pub mod consumer;
pub mod record;
pub mod sigv4;
pub mod wire;

pub use consumer::KinesisSourceConfig;
