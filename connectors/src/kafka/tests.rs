//! Fast checks of the sink against librdkafka's mock cluster (in process, no broker): what it
//! writes, and where a message goes when delivery fails after librdkafka's retries. The source
//! and the whole delivery guarantee are tested against a real broker in `tests/kafka/`.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use runnel_engine::{Message, Metadata, PipelineBuilder};
use serde_json::json;

use crate::{MemorySinkConfig, MemorySourceConfig};

use super::KafkaSinkConfig;

fn sink(brokers: &str, extra: &str) -> KafkaSinkConfig {
    toml::from_str(&format!("brokers = \"{brokers}\"\n{extra}")).expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_writes_json_with_topic_key_and_headers_from_the_message() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("rooms.lobby", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let (source, input) = MemorySourceConfig::channel();
    let config = sink(&brokers, "topic = { jq = '\"rooms.\" + .room' }\nkey = { field = \"user\" }");
    let running = PipelineBuilder::new().source("in", source).sink("out", ["in"], config).build().expect("valid").start().await.expect("starts");
    let headers = vec![("trace".to_owned(), bytes::Bytes::from_static(b"t1"))];
    let meta = Metadata { headers: Some(headers.into()), timestamp: Some(1_700_000_000_000), ..Metadata::default() };
    input.send_message(Message::with_meta(json!({"room": "lobby", "user": "ann", "text": "hi"}), meta)).await.expect("sent");
    let mut acks = input.close();
    running.wait().await.expect("runs");
    assert_eq!(acks.recv().await.map(|a| a.status), Some(runnel_engine::AckStatus::Delivered));

    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &brokers).set("group.id", "check").create().expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("rooms.lobby", 0, Offset::Beginning).expect("offset");
    consumer.assign(&list).expect("assign");
    let message = (0..100).find_map(|_| consumer.poll(Duration::from_millis(100))).expect("a message").expect("no error");
    let payload: serde_json::Value = serde_json::from_slice(message.payload().expect("payload")).expect("JSON");
    assert_eq!(payload, json!({"room": "lobby", "user": "ann", "text": "hi"}));
    assert_eq!(message.key(), Some(&b"ann"[..]));
    assert_eq!(message.timestamp().to_millis(), Some(1_700_000_000_000));
    let header = message.headers().expect("headers").get(0);
    assert_eq!((header.key, header.value), ("trace", Some(&b"t1"[..])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_delivered_goes_to_the_errors_port() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("t", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    cluster.broker_down(1).expect("broker down");
    let source: MemorySourceConfig = toml::from_str("messages = [{ n = 1 }, { room = { not = \"a string\" } }]").expect("config");
    let config = sink(&brokers, "topic = { jq = '.room // \"t\"' }\ndelivery_timeout_ms = 300\nidempotent = false");
    let (dead, dead_letters) = MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("in", source)
        .sink("out", ["in"], config)
        .sink("dead", ["out.errors"], dead)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let (records, result) = tokio::join!(dead_letters.collect_values(), running.wait());
    result.expect("runs");
    let mut errors: Vec<String> = records.iter().map(|r| r["error"].as_str().expect("error").to_owned()).collect();
    errors.sort();
    assert_eq!(errors.len(), 2, "{records:?}");
    assert!(errors[0].starts_with("cannot deliver to topic `t`"), "{errors:?}");
    assert_eq!(errors[1], "topic: expected a string, found an object");
    // The sink freed the value once encoded; the error record has it back from the payload.
    let undelivered = records.iter().find(|r| r["error"].as_str().is_some_and(|e| e.starts_with("cannot deliver"))).expect("record");
    assert_eq!(undelivered["message"], json!({"n": 1}));
}
