//! The message a Kinesis record becomes in a pipeline, for both Kinesis sources (the
//! `kinesis_server` endpoint and the `kinesis` consumer): its value is the record exactly as
//! Lambda hands it to a function in a Kinesis event's `Records` (`aws_lambda_events`'
//! `KinesisEventRecord`), so a `lambda` block or a `map` reads the fields it knows:
//!
//! ```json
//! {"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"room-1","sequenceNumber":"4959…",
//!             "data":"<base64>","approximateArrivalTimestamp":1545084650.987},
//!  "eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:4959…",
//!  "eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::000000000000:role/runnel",
//!  "awsRegion":"us-east-1","eventSourceARN":"arn:aws:kinesis:us-east-1:000000000000:stream/chat"}
//! ```
//!
//! Its metadata: `key` = the partition key's bytes, `timestamp` = the arrival in ms, `origin` =
//! the source node and stream with the shard index as partition and the per-shard counter (where
//! the source has one) as offset, `attributes` = `{"stream", "shard_id", "sequence_number"}`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use runnel_engine::{Message, Metadata, Origin, Stream};
use serde_json::{Map, Value};

/// The region named in records when the configuration names none.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The account named in records when the configuration names none.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// What every record of one stream shares: its ARN, region and the role named as invoker.
#[derive(Clone, Debug)]
pub struct RecordContext {
    stream: Arc<str>,
    region: Value,
    stream_arn: Value,
    identity_arn: Value,
    origin: Arc<Stream>,
}

/// One record as read from a shard.
#[derive(Clone, Copy, Debug)]
pub struct KinesisRecord<'a> {
    /// `shardId-000000000000`.
    pub shard_id: &'a str,
    /// The shard's index, the message's partition.
    pub shard_index: i32,
    /// Its sequence number.
    pub sequence_number: &'a str,
    /// Its partition key.
    pub partition_key: &'a str,
    /// Its bytes.
    pub data: &'a [u8],
    /// When the shard took it, ms since the Unix epoch.
    pub arrival_ms: i64,
    /// The per-shard counter, where the source has one (the message's offset).
    pub counter: Option<u64>,
}

impl RecordContext {
    /// The records of `stream` in `region` of `account`, read by source `node`.
    pub fn new(node: Arc<str>, stream: &str, region: &str, account: &str) -> Self {
        let stream: Arc<str> = Arc::from(stream);
        Self {
            region: Value::String(region.to_owned()),
            stream_arn: Value::String(stream_arn(region, account, &stream)),
            identity_arn: Value::String(format!("arn:aws:iam::{account}:role/runnel")),
            origin: Stream::new(node, Some(Arc::clone(&stream))),
            stream,
        }
    }

    /// The stream's ARN.
    pub fn stream_arn(&self) -> &str {
        self.stream_arn.as_str().unwrap_or_default()
    }

    /// The record's value, in Lambda's shape.
    pub fn value(&self, record: &KinesisRecord<'_>) -> Value {
        let mut kinesis = Map::with_capacity(5);
        kinesis.insert("kinesisSchemaVersion".into(), "1.0".into());
        kinesis.insert("partitionKey".into(), record.partition_key.into());
        kinesis.insert("sequenceNumber".into(), record.sequence_number.into());
        kinesis.insert("data".into(), STANDARD.encode(record.data).into());
        kinesis.insert("approximateArrivalTimestamp".into(), arrival_seconds(record.arrival_ms).into());
        let mut value = Map::with_capacity(9);
        value.insert("kinesis".into(), Value::Object(kinesis));
        value.insert("eventSource".into(), "aws:kinesis".into());
        value.insert("eventVersion".into(), "1.0".into());
        value.insert("eventID".into(), format!("{}:{}", record.shard_id, record.sequence_number).into());
        value.insert("eventName".into(), "aws:kinesis:record".into());
        value.insert("invokeIdentityArn".into(), self.identity_arn.clone());
        value.insert("awsRegion".into(), self.region.clone());
        value.insert("eventSourceARN".into(), self.stream_arn.clone());
        Value::Object(value)
    }

    /// The record's message: its value and metadata, without acknowledgement tokens.
    pub fn message(&self, record: &KinesisRecord<'_>) -> Message {
        let mut attributes = Map::with_capacity(3);
        attributes.insert("stream".into(), Value::String(self.stream.to_string()));
        attributes.insert("shard_id".into(), record.shard_id.into());
        attributes.insert("sequence_number".into(), record.sequence_number.into());
        let meta = Metadata {
            key: Some(Bytes::copy_from_slice(record.partition_key.as_bytes())),
            timestamp: Some(record.arrival_ms),
            origin: Origin { from: Some(Arc::clone(&self.origin)), partition: Some(record.shard_index), offset: record.counter },
            attributes: Some(Arc::new(attributes)),
            size: u32::try_from(record.data.len() + record.partition_key.len()).unwrap_or(u32::MAX),
            ..Metadata::default()
        };
        Message::with_meta(self.value(record), meta)
    }
}

/// `arn:aws:kinesis:<region>:<account>:stream/<name>`.
pub fn stream_arn(region: &str, account: &str, stream: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:stream/{stream}")
}

/// Epoch milliseconds as the epoch seconds with milliseconds AWS writes (`1545084650.987`).
pub fn arrival_seconds(ms: i64) -> f64 {
    // Divided as whole seconds and milliseconds, so the float is the closest to the decimal.
    let (seconds, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    format!("{seconds}.{millis:03}").parse().unwrap_or(ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record() -> KinesisRecord<'static> {
        KinesisRecord {
            shard_id: "shardId-000000000006",
            shard_index: 6,
            sequence_number: "49590338271490256608559692538361571095921575989136588898",
            partition_key: "1",
            data: b"Hello, this is a test.",
            arrival_ms: 1_545_084_650_987,
            counter: Some(12),
        }
    }

    #[test]
    fn the_value_is_lambdas_kinesis_event_record() {
        let context = RecordContext::new("in".into(), "lambda-stream", "us-east-2", "123456789012");
        let value = context.value(&record());
        assert_eq!(
            value,
            json!({"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"1",
                "sequenceNumber":"49590338271490256608559692538361571095921575989136588898",
                "data":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==","approximateArrivalTimestamp":1545084650.987},
              "eventSource":"aws:kinesis","eventVersion":"1.0",
              "eventID":"shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
              "eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/runnel",
              "awsRegion":"us-east-2","eventSourceARN":"arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"})
        );
        assert_eq!(serde_json::to_string(&value["kinesis"]["approximateArrivalTimestamp"]).expect("number"), "1545084650.987");
    }

    #[test]
    fn the_metadata_names_the_shard_and_the_record() {
        let context = RecordContext::new("in".into(), "chat", DEFAULT_REGION, DEFAULT_ACCOUNT);
        let message = context.message(&record());
        let meta = message.meta();
        assert_eq!(meta.key.as_deref(), Some(&b"1"[..]));
        assert_eq!(meta.timestamp, Some(1_545_084_650_987));
        assert_eq!(
            (meta.origin.node(), meta.origin.stream(), meta.origin.partition, meta.origin.offset),
            (Some("in"), Some("chat"), Some(6), Some(12))
        );
        assert_eq!(meta.attribute("shard_id"), Some(&json!("shardId-000000000006")));
        assert_eq!(meta.attribute("stream"), Some(&json!("chat")));
        assert_eq!(message.value()["eventSourceARN"], json!("arn:aws:kinesis:us-east-1:000000000000:stream/chat"));
    }
}
