//! Kafka records (`event_source = "kafka"`): messages of the `kafka` source, whose metadata
//! holds the topic (the origin's stream), partition, offset, key, timestamp and headers, made
//! into Lambda's Kafka event (§1.8) and its on-failure record.

use std::borrow::Cow;

use base64::Engine;
use runnel_engine::Message;
use serde_json::{Map, Value, json};

use super::failure::iso_millis;
use super::record::{Record, Shape};

/// `eventSource` of a self-managed Kafka cluster's events.
const EVENT_SOURCE: &str = "SelfManagedKafka";

/// Reads what the block needs of a Kafka message, or says why it is not one.
pub(super) fn read(message: &Message) -> Result<Shape<'_>, String> {
    let origin = &message.meta().origin;
    let (Some(topic), Some(partition), Some(_)) = (origin.stream(), origin.partition, origin.offset) else {
        return Err("not a Kafka message: no topic, partition and offset (it did not come from a `kafka` source)".to_owned());
    };
    Ok(Shape {
        shard: Cow::Owned(format!("{topic}-{partition}")),
        partition_key: "",
        data: "",
        arrival_ms: message.meta().timestamp.unwrap_or_default(),
    })
}

/// The fields filter criteria see of a Kafka message: `value` (the message's JSON), `key`
/// (as text, when it is UTF-8), `topic`, `partition` and `offset`.
pub(super) fn filter_fields(message: &Message) -> Map<String, Value> {
    let meta = message.meta();
    let mut fields = Map::new();
    fields.insert("value".into(), message.value().clone());
    if let Some(key) = meta.key.as_ref().and_then(|key| std::str::from_utf8(key).ok()) {
        fields.insert("key".into(), json!(key));
    }
    if let Some(topic) = meta.origin.stream() {
        fields.insert("topic".into(), json!(topic));
    }
    fields.insert("partition".into(), json!(meta.origin.partition));
    fields.insert("offset".into(), json!(meta.origin.offset));
    fields
}

/// Lambda's Kafka event for `records` (of one topic-partition).
pub(super) fn event(records: &[Record], bootstrap_servers: Option<&str>) -> Value {
    let mut by_partition: Map<String, Value> = Map::new();
    for record in records {
        let meta = record.message.meta();
        let name = format!("{}-{}", meta.origin.stream().unwrap_or_default(), meta.origin.partition.unwrap_or_default());
        let list = by_partition.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(kafka_record(&record.message));
        }
    }
    let mut event = Map::new();
    event.insert("eventSource".into(), json!(EVENT_SOURCE));
    if let Some(servers) = bootstrap_servers {
        event.insert("bootstrapServers".into(), json!(servers));
    }
    event.insert("records".into(), Value::Object(by_partition));
    Value::Object(event)
}

/// One record of Lambda's Kafka event: key and value in base64 (the value as the JSON text of
/// the message), the timestamp in ms, headers as lists of byte values.
fn kafka_record(message: &Message) -> Value {
    let meta = message.meta();
    let base64 = &base64::engine::general_purpose::STANDARD;
    let value = match message.value() {
        Value::Null => Value::Null,
        value => json!(base64.encode(value.to_string())),
    };
    let headers: Vec<Value> =
        meta.headers.iter().flat_map(|headers| headers.iter()).map(|(name, bytes)| json!({ name.as_str(): bytes.to_vec() })).collect();
    json!({
        "topic": meta.origin.stream(),
        "partition": meta.origin.partition,
        "offset": meta.origin.offset,
        "timestamp": meta.timestamp.unwrap_or_default(),
        "timestampType": "CREATE_TIME",
        "key": meta.key.as_ref().map(|key| base64.encode(key)),
        "value": value,
        "headers": headers,
    })
}

/// `KafkaBatchInfo` of an on-failure record for `records` (not empty).
pub(super) fn batch_info(records: &[Record], bootstrap_servers: Option<&str>) -> Value {
    let first = &records[0].message;
    let last = &records[records.len() - 1].message;
    let topic_partition = format!("{}-{}", first.meta().origin.stream().unwrap_or_default(), first.meta().origin.partition.unwrap_or_default());
    let payload_size: usize = records.iter().map(|record| record.size).sum();
    json!({
        "batchSize": records.len(),
        "bootstrapServers": bootstrap_servers.unwrap_or_default(),
        "payloadSize": payload_size,
        "recordsInfo": {
            topic_partition: {
                "firstRecordOffset": first.meta().origin.offset.map(|o| o.to_string()),
                "firstRecordTimestamp": iso_millis(first.meta().timestamp.unwrap_or_default()),
                "lastRecordOffset": last.meta().origin.offset.map(|o| o.to_string()),
                "lastRecordTimestamp": iso_millis(last.meta().timestamp.unwrap_or_default()),
            }
        },
    })
}
