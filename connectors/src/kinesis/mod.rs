//! Kinesis: the `kinesis` source, a consumer of a Kinesis stream (AWS's or any endpoint that
//! speaks its API), and the pieces it shares with the `kinesis_server` source.

pub mod consumer;
pub mod sigv4;

pub use consumer::KinesisSourceConfig;
