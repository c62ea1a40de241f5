//! The crash test: `runnel run` copies 100,000 messages from one topic to another and is killed
//! with SIGKILL several times at random points; after a last, undisturbed run every input message
//! is in the output topic. The duplicates (messages copied again after a crash) are counted and
//! printed.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::{Random, Record, Runnel, TopicReader, brokers, copy_pipeline, create_topic, produce, topic_size, unique};

const MESSAGES: u64 = 100_000;
const KILLS: u64 = 4;

#[test]
fn sigkill_at_random_points_loses_nothing() {
    let Some(brokers) = brokers() else { return };
    let (input, output, group) = (unique("crash-in"), unique("crash-out"), unique("crash"));
    create_topic(&brokers, &input, 4);
    create_topic(&brokers, &output, 4);
    produce(
        &brokers,
        &input,
        (0..MESSAGES).map(|n| Record {
            key: Some(format!("user-{}", n % 97)),
            payload: json!({"n": n, "text": "a message of a realistic size for a chat application, give or take"}).to_string(),
            ..Record::default()
        }),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = copy_pipeline(dir.path());
    // Commits every 100 ms, so that each run commits before it is killed (the runs between kills
    // last about a second): a commit point past an unfinished message would lose it. The
    // duplicates are what was copied after the last commit; RUNNEL_CRASH_COMMIT_INTERVAL_MS
    // shows how the interval bounds them.
    let interval = std::env::var("RUNNEL_CRASH_COMMIT_INTERVAL_MS").unwrap_or_else(|_| "100".to_owned());
    let env = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("IN", input.as_str()),
        ("OUT", output.as_str()),
        ("GROUP", group.as_str()),
        ("COMMIT_INTERVAL_MS", interval.as_str()),
    ];

    // Kill points spread over the run: the k-th kill comes once the output holds a random number
    // of messages within the k-th slice of the input.
    let mut random = Random::new("crash test");
    let slice = MESSAGES / (KILLS + 1);
    let mut kills = Vec::new();
    for k in 0..KILLS {
        let target = slice * k + random.between(slice / 4..slice);
        let mut runnel = Runnel::start(&pipeline, &env, dir.path(), &format!("run-{k}"));
        super::eventually(&format!("the output reaches {target} messages"), Duration::from_secs(120), || {
            topic_size(&brokers, &output) >= target as i64
        });
        runnel.kill();
        let committed: i64 = super::committed(&brokers, &group, &input).values().sum();
        kills.push((topic_size(&brokers, &output), committed));
    }

    assert!(kills.iter().any(|(_, committed)| *committed > 0), "runs commit before they are killed: {kills:?}");
    let mut last = Runnel::start(&pipeline, &env, dir.path(), "last");
    let mut reader = TopicReader::new(&brokers, &output);
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut counted = 0;
    let complete = reader.read_until(Duration::from_secs(180), |messages| {
        for message in &messages[counted..] {
            let value: serde_json::Value = serde_json::from_slice(rdkafka::Message::payload(message).unwrap_or(b"null")).expect("JSON");
            *seen.entry(value["n"].as_u64().expect("n")).or_default() += 1;
        }
        counted = messages.len();
        seen.len() as u64 == MESSAGES
    });
    assert_eq!(last.terminate(), Some(0), "the last run stops cleanly");
    let committed: i64 = super::committed(&brokers, &group, &input).values().sum();
    assert_eq!(committed, MESSAGES as i64, "a clean stop commits everything");
    let missing: Vec<u64> = (0..MESSAGES).filter(|n| !seen.contains_key(n)).take(10).collect();
    assert!(
        complete && missing.is_empty(),
        "{} of {MESSAGES} input messages never reached the output, e.g. {missing:?}",
        MESSAGES - seen.len() as u64
    );
    let total = topic_size(&brokers, &output);
    let duplicates = total - MESSAGES as i64;
    eprintln!(
        "crash test: {MESSAGES} messages, commit interval {interval} ms, SIGKILL at (output size, committed input offsets) {kills:?}; output holds {total}: every input message, {duplicates} duplicates ({:.2}%)",
        duplicates as f64 * 100.0 / MESSAGES as f64
    );
}
