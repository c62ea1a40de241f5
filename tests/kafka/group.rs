//! Scale-out: two `runnel run` processes in one consumer group split the partitions; when one is
//! killed mid-stream the other takes its partitions over and nothing is lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{Record, Runnel, TopicReader, brokers, copy_pipeline, create_topic, eventually, produce, topic_size, unique};

const PARTITIONS: i32 = 4;

/// The partitions a process owns, as its lag gauges show them (removed when revoked).
fn owned(runnel: &Runnel, topic: &str) -> BTreeSet<i32> {
    runnel
        .metrics_text()
        .lines()
        .filter(|l| l.starts_with("runnel_kafka_consumer_lag_messages{") && l.contains(&format!("topic=\"{topic}\"")))
        .filter_map(|l| l.split("partition=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}

#[test]
fn two_processes_split_the_partitions_and_one_takes_over_when_the_other_is_killed() {
    let Some(brokers) = brokers() else { return };
    let (input, output, group) = (unique("group-in"), unique("group-out"), unique("group"));
    create_topic(&brokers, &input, PARTITIONS);
    create_topic(&brokers, &output, PARTITIONS);
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = copy_pipeline(dir.path());
    let env = |instance: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("KAFKA_BROKERS", brokers.clone()),
            ("IN", input.clone()),
            ("OUT", output.clone()),
            ("GROUP", group.clone()),
            ("INSTANCE", instance.to_owned()),
        ]
    };
    let (env_a, env_b) = (env("a"), env("b"));
    let env_a: Vec<(&str, &str)> = env_a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let env_b: Vec<(&str, &str)> = env_b.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = Runnel::start(&pipeline, &env_a, dir.path(), "a");
    let mut b = Runnel::start(&pipeline, &env_b, dir.path(), "b");

    // A steady stream of messages, 200 every 100 ms, each to partition n % 4, until stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (brokers, input, stop) = (brokers.clone(), input.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let chunk = n..n + 200;
                produce(
                    &brokers,
                    &input,
                    chunk.clone().map(|n| Record {
                        payload: json!({"n": n, "p": n % 4}).to_string(),
                        partition: Some((n % 4) as i32),
                        ..Record::default()
                    }),
                );
                n = chunk.end;
                std::thread::sleep(Duration::from_millis(100));
            }
            n
        })
    };

    eventually("the two processes split the partitions", Duration::from_secs(60), || {
        let (mine, theirs) = (owned(&a, &input), owned(&b, &input));
        !mine.is_empty() && !theirs.is_empty() && mine.is_disjoint(&theirs) && mine.len() + theirs.len() == PARTITIONS as usize
    });
    let split = (owned(&a, &input), owned(&b, &input));
    let mut reader = TopicReader::new(&brokers, &output);
    let mut instances = BTreeSet::new();
    let mut counted = 0;
    let both_worked = reader.read_until(Duration::from_secs(30), |messages| {
        instances.extend(super::payloads(&messages[counted..]).iter().filter_map(|v| v["instance"].as_str().map(str::to_owned)));
        counted = messages.len();
        instances.len() == 2
    });
    assert!(both_worked, "both processes copied messages");

    b.kill();
    let killed_at = topic_size(&brokers, &output);
    eventually("the survivor owns every partition", Duration::from_secs(60), || owned(&a, &input).len() == PARTITIONS as usize);
    // Let the survivor copy from every partition for a while before the stream ends.
    let after_takeover = topic_size(&brokers, &output);
    eventually("the survivor copies more", Duration::from_secs(30), || topic_size(&brokers, &output) > after_takeover + 2_000);
    stop.store(true, Ordering::Relaxed);
    let produced = producer.join().expect("producer");

    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut counted = 0;
    let complete = reader.read_until(Duration::from_secs(120), |messages| {
        for value in super::payloads(&messages[counted..]) {
            *seen.entry(value["n"].as_u64().expect("n")).or_default() += 1;
        }
        counted = messages.len();
        seen.len() as u64 == produced
    });
    assert_eq!(a.terminate(), Some(0), "the survivor stops cleanly");
    let missing: Vec<u64> = (0..produced).filter(|n| !seen.contains_key(n)).take(10).collect();
    assert!(complete && missing.is_empty(), "{} of {produced} messages lost, e.g. {missing:?}", produced - seen.len() as u64);
    let late: BTreeSet<u64> = super::payloads(&reader.messages)
        .iter()
        .filter(|v| v["instance"] == "a" && v["n"].as_u64().is_some_and(|n| n + 2_000 > produced))
        .filter_map(|v| v["p"].as_u64())
        .collect();
    assert_eq!(late.len(), PARTITIONS as usize, "after the takeover the survivor copies every partition");
    let duplicates = reader.messages.len() as u64 - produced;
    eprintln!("group test: split {split:?}; {produced} messages; second process killed at output size {killed_at}; {duplicates} duplicates");
}
