//! The record messages a `lambda` block reads: each message's value is one record of Lambda's
//! Kinesis event (`{"kinesis": {"partitionKey", "sequenceNumber", "data",
//! "approximateArrivalTimestamp", ...}, "eventID": "<shardId>:<sequenceNumber>", ...}`), with
//! the shard in the `shard_id` attribute or the `eventID` prefix. Kafka messages
//! (`event_source = "kafka"`) are read by module `kafka`, into the same [`Shape`].

use std::borrow::Cow;

use base64::Engine;
use runnel_engine::Message;
use serde::Deserialize;
use serde_json::Value;

/// A record held by the block: the message as it came (so that it goes out unchanged, with its
/// acknowledgement) and what the block needs of it, read once.
#[derive(Debug)]
pub(super) struct Record {
    pub(super) message: Message,
    /// `approximateArrivalTimestamp`, in ms since the epoch.
    pub(super) arrival_ms: i64,
    /// What the record adds to an event's payload, roughly (its JSON text).
    pub(super) size: usize,
}

/// Which records a block reads, and so which event Lambda would build from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// Records of Lambda's Kinesis event (what the Kinesis sources emit): `{"Records": [...]}`.
    #[default]
    Kinesis,
    /// Messages of the `kafka` source: Lambda's Kafka event, `{"eventSource":
    /// "SelfManagedKafka", "records": {"<topic>-<partition>": [...]}}`.
    Kafka,
}

/// What the block reads of a record message.
#[derive(Debug)]
pub(super) struct Shape<'a> {
    /// The shard, or the topic-partition of a Kafka message.
    pub(super) shard: Cow<'a, str>,
    pub(super) partition_key: &'a str,
    pub(super) data: &'a str,
    pub(super) arrival_ms: i64,
}

/// Bytes of a record's JSON besides its data, partition key and sequence number: the field
/// names, the event id's shard, the ARNs and the region (about 330 bytes in Lambda's example).
const RECORD_OVERHEAD: usize = 400;

impl Record {
    /// What `message`, read as `shape`, adds to a payload: the size its source read, or an
    /// estimate from its data and keys (without writing its JSON).
    pub(super) fn size_of(message: &Message, shape: &Shape<'_>) -> usize {
        match message.size_hint() {
            0 => shape.data.len() + 2 * shape.partition_key.len() + RECORD_OVERHEAD,
            known => known,
        }
    }

    /// The record's `kinesis.sequenceNumber` (checked when the record was read).
    pub(super) fn sequence(&self) -> &str {
        self.message.value()["kinesis"]["sequenceNumber"].as_str().unwrap_or_default()
    }

    /// The record's `eventSourceARN`, if it has one.
    pub(super) fn source_arn(&self) -> Option<&str> {
        self.message.value()["eventSourceARN"].as_str()
    }
}

/// Reads what the block needs of `message`, or says why it is not a record of `source`.
pub(super) fn read(source: EventSource, message: &Message) -> Result<Shape<'_>, String> {
    match source {
        EventSource::Kinesis => read_kinesis(message),
        EventSource::Kafka => super::kafka::read(message),
    }
}

fn read_kinesis(message: &Message) -> Result<Shape<'_>, String> {
    let value = message.value();
    let Some(kinesis) = value.get("kinesis").and_then(Value::as_object) else {
        return Err("not a Kinesis record: no `kinesis` object".to_owned());
    };
    let text = |field: &str| match kinesis.get(field) {
        Some(Value::String(text)) => Ok(text.as_str()),
        Some(other) => Err(format!("not a Kinesis record: `kinesis.{field}` is {other}, not a string")),
        None => Err(format!("not a Kinesis record: no `kinesis.{field}`")),
    };
    let partition_key = text("partitionKey")?;
    let sequence = text("sequenceNumber")?;
    let data = text("data")?;
    if sequence.is_empty() {
        return Err("not a Kinesis record: `kinesis.sequenceNumber` is empty".to_owned());
    }
    let arrival = kinesis
        .get("approximateArrivalTimestamp")
        .and_then(Value::as_f64)
        .ok_or_else(|| "not a Kinesis record: `kinesis.approximateArrivalTimestamp` is not a number of seconds since the epoch".to_owned())?;
    let shard = shard_of(message).ok_or_else(|| {
        "not a Kinesis record: no shard (neither a `shard_id` attribute nor an `eventID` of the form `<shardId>:<sequenceNumber>`)".to_owned()
    })?;
    Ok(Shape { shard: Cow::Borrowed(shard), partition_key, data, arrival_ms: (arrival * 1000.0).round() as i64 })
}

/// The record's shard: the `shard_id` attribute, or what its `eventID` has before `:`.
fn shard_of(message: &Message) -> Option<&str> {
    if let Some(Value::String(shard)) = message.meta().attribute("shard_id") {
        return Some(shard);
    }
    let event_id = message.value().get("eventID")?.as_str()?;
    event_id.split_once(':').map(|(shard, _)| shard).filter(|shard| !shard.is_empty())
}

/// The record's data decoded from base64 and parsed as JSON, for filter criteria; `None` when
/// it is not base64 or not JSON.
pub(super) fn decoded_data(data: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The lane of a partition key among `lanes`: FNV-1a, a hash that stays the same across
/// versions and runs, so a key keeps its lane.
pub(super) fn lane_of(partition_key: &str, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let hash = partition_key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash % lanes as u64) as usize
}
