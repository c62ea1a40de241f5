//! What runnel's Kinesis connectors share: the API's JSON shapes and the message a record becomes.
//!
//! - [`wire`]: the requests, responses and error body of the Kinesis Data Streams API (AWS JSON 1.1).
//! - [`record`]: a record as Lambda's Kinesis event record, the value both Kinesis sources emit.

pub mod record;
pub mod wire;
