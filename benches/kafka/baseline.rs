//! The hand-written loop the engine is compared with: one thread polls an rdkafka consumer in the
//! same group setup, reshapes each message with serde_json exactly as the engine's `map` does,
//! and hands it to a threaded producer. It tracks no acknowledgements (librdkafka auto-commits
//! what it polled), so it is an upper bound rather than an equal.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message};
use serde_json::{Value, json};

/// The engine's `map` program, by hand: `{room, user, text, len: (.text | length)}`.
pub(crate) fn shape(value: &Value) -> Value {
    let len = value["text"].as_str().map_or(0, |t| t.chars().count());
    json!({"room": value["room"], "user": value["user"], "text": value["text"], "len": len})
}

/// Copies `messages` messages from `input` to `output`; returns the time from the first
/// assignment to the last delivery.
pub(crate) fn run(brokers: &str, input: &str, output: &str, group: &str, messages: usize) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[input]).expect("subscribe");
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).set("compression.type", "lz4").create().expect("producer");
    let mut start = None;
    let mut copied = 0;
    let mut payload = Vec::new();
    while copied < messages {
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = polled.expect("no consumer error");
        start.get_or_insert_with(Instant::now);
        let value: Value = serde_json::from_slice(message.payload().unwrap_or(b"null")).expect("JSON");
        payload.clear();
        serde_json::to_writer(&mut payload, &shape(&value)).expect("encodes");
        let mut record = BaseRecord::<[u8], [u8]>::to(output).payload(&payload);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        while let Err((error, back)) = producer.send(record) {
            assert!(matches!(error, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)), "{error}");
            producer.poll(Duration::from_millis(1));
            record = back;
        }
        copied += 1;
    }
    producer.flush(Duration::from_secs(60)).expect("every message delivered");
    start.map_or(Duration::ZERO, |s| s.elapsed())
}
