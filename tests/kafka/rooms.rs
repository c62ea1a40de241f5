//! `pipelines/kafka-rooms.toml` run by `runnel run` against the broker: chat messages are
//! republished to a topic per room, important ones also to the alerts topic, and bad ones to the
//! dead letters; `/metrics` shows the consumer lag and the commits, and passes promtool.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::Message as _;
use serde_json::{Value, json};

use super::{Record, Runnel, brokers, committed, create_topic, eventually, payloads, produce, read_topic, unique};
use crate::support::root;

#[test]
fn the_rooms_pipeline_republishes_per_room_and_alerts_on_important_messages() {
    let Some(brokers) = brokers() else { return };
    let prefix = unique("room");
    let (chat, alerts, dead, group) = (unique("chat"), unique("alerts"), unique("dead"), unique("rooms"));
    create_topic(&brokers, &chat, 2);
    let rooms = ["lobby", "dev", "ops"];
    let mut records: Vec<Record> = (0..30)
        .map(|i| {
            let text = if i % 10 == 3 { format!("deploy {i} @here") } else { format!("message {i}") };
            Record::json(json!({"room": rooms[i % 3], "user": format!("u{}", i % 4), "text": text, "important": i == 7, "i": i}))
        })
        .collect();
    records.push(Record { payload: "{\"room\": ".to_owned(), ..Record::default() });
    records.push(Record::json(json!({"user": "u1", "text": "where am I?"})));
    produce(&brokers, &chat, records);

    let dir = tempfile::tempdir().expect("tempdir");
    let room_prefix = format!("{prefix}.");
    let env = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("CHAT_TOPIC", chat.as_str()),
        ("GROUP", group.as_str()),
        ("ROOM_TOPIC_PREFIX", room_prefix.as_str()),
        ("ALERTS_TOPIC", alerts.as_str()),
        ("DEAD_LETTER_TOPIC", dead.as_str()),
        ("SESSION_TIMEOUT_MS", super::SESSION_TIMEOUT),
    ];
    let mut runnel = Runnel::start(&root().join("pipelines/kafka-rooms.toml"), &env, dir.path(), "rooms");

    let per_room: BTreeMap<&str, Vec<Value>> =
        rooms.iter().map(|room| (*room, payloads(&read_topic(&brokers, &format!("{room_prefix}{room}"), 10, Duration::from_secs(60))))).collect();
    let important = payloads(&read_topic(&brokers, &alerts, 4, Duration::from_secs(30)));
    let dead_letters = read_topic(&brokers, &dead, 2, Duration::from_secs(30));
    eventually("every chat offset is committed", Duration::from_secs(30), || committed(&brokers, &group, &chat).values().sum::<i64>() == 32);
    let metrics = super::eventually_text(&runnel, "runnel_kafka_consumer_lag_messages{");
    assert_eq!(runnel.terminate(), Some(0), "stops cleanly on SIGTERM");

    for (room, messages) in &per_room {
        assert_eq!(messages.len(), 10, "room {room}: {messages:?}");
        assert!(messages.iter().all(|m| m["room"] == *room), "room {room}: {messages:?}");
    }
    let mut flagged: Vec<i64> = important.iter().filter_map(|m| m["i"].as_i64()).collect();
    flagged.sort_unstable();
    assert_eq!(flagged, vec![3, 7, 13, 23], "flagged or @here");
    let errors: Vec<String> = payloads(&dead_letters).iter().map(|r| r["error"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(errors.iter().any(|e| e.contains("invalid JSON")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("no room")), "{errors:?}");
    assert!(dead_letters.iter().all(|m| m.topic() == dead));

    for family in [
        "runnel_kafka_consumer_lag_messages",
        "runnel_kafka_commits_total",
        "runnel_kafka_rebalances_total",
        "runnel_kafka_producer_in_flight_messages",
    ] {
        assert!(metrics.contains(family), "{family} missing from /metrics:\n{metrics}");
    }
    crate::support::assert_promtool_accepts(&metrics);
}

#[test]
fn the_readme_kafka_example_is_a_valid_pipeline() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme.split("\n## Kafka\n").nth(1).expect("a Kafka section");
    let example = section.split("```toml\n").nth(1).and_then(|s| s.split("```").next()).expect("a TOML example");
    let pipeline = crate::support::pipeline(example);
    assert!(pipeline.warnings().is_empty(), "{:?}", pipeline.warnings());
}
