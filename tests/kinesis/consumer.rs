//! The `kinesis` source against kinesalite: every shard read, records in Lambda's shape, order
//! per partition key, checkpoints that survive a restart, resharding followed, and the
//! starting positions of a first start.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use runnel::RunningPipeline;
use runnel_connectors::MemoryOutput;
use serde_json::{Value, json};

use super::boto::{Boto, kinesalite, unique_stream};

struct Running {
    pipeline: RunningPipeline,
    out: MemoryOutput,
}

async fn start(endpoint: &str, stream: &str, state: &Path, extra: &str) -> Running {
    let toml = format!(
        r#"
[sources.in]
type = "kinesis"
stream = "{stream}"
endpoint = "{endpoint}"
poll_interval_ms = 50
shard_discovery_interval_ms = 200
checkpoint_interval_ms = 100
state_path = "{}"
{extra}

[sinks.out]
type = "memory"
inputs = ["in"]
"#,
        state.display()
    );
    let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline").start().await.expect("starts");
    let out = runnel_connectors::take_output(pipeline.resources(), "out").expect("the sink");
    Running { pipeline, out }
}

async fn stop(running: Running) {
    running.pipeline.shutdown_token().cancel();
    running.pipeline.wait().await.expect("stops cleanly");
}

async fn next(out: &mut MemoryOutput, n: usize) -> Vec<Value> {
    let mut values = Vec::new();
    while values.len() < n {
        match tokio::time::timeout(Duration::from_secs(30), out.recv()).await {
            Ok(Some(message)) => values.push(message.into_value()),
            Ok(None) => panic!("the pipeline ended after {} records", values.len()),
            Err(_) => panic!("timed out after {} of {n} records", values.len()),
        }
    }
    values
}

/// The payload a test put, from a record in Lambda's shape.
fn payload(record: &Value) -> Value {
    let data = record["kinesis"]["data"].as_str().expect("base64 data");
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
    serde_json::from_slice(&bytes).expect("the JSON put")
}

fn records(from: usize, count: usize, keys: usize) -> Vec<(String, String)> {
    (from..from + count).map(|n| (format!("key-{}", n % keys), json!({"n": n}).to_string())).collect()
}

/// Each key's payload numbers, in the order received.
fn by_key(values: &[Value]) -> BTreeMap<String, Vec<u64>> {
    let mut keys: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for value in values {
        let key = value["kinesis"]["partitionKey"].as_str().expect("a key").to_owned();
        keys.entry(key).or_default().push(payload(value)["n"].as_u64().expect("n"));
    }
    keys
}

fn assert_in_order(values: &[Value]) {
    for (key, numbers) in by_key(values) {
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{key} out of order: {numbers:?}");
    }
}

#[tokio::test]
async fn every_shard_is_read_in_lambda_s_shape_and_a_restart_resumes_after_the_acknowledged_records() {
    let (Some(endpoint), Some(mut boto)) = (kinesalite(), async { Boto::start(&kinesalite()?).await }.await) else { return };
    let stream = unique_stream("consumer");
    boto.create_stream(&stream, 3).await;
    let put = boto.put(&stream, &records(0, 300, 20)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    let mut running = start(&endpoint, &stream, &state, "").await;
    let values = next(&mut running.out, 300).await;
    let numbers: BTreeSet<u64> = values.iter().map(|v| payload(v)["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..300).collect(), "every record, once");
    assert_in_order(&values);
    let shards: BTreeSet<&str> = values.iter().map(|v| v["eventID"].as_str().unwrap().split(':').next().unwrap()).collect();
    assert_eq!(shards.len(), 3, "records from every shard: {shards:?}");
    // Each record is where PutRecords said, in Lambda's shape.
    let by_number: BTreeMap<u64, &Value> = values.iter().map(|v| (payload(v)["n"].as_u64().unwrap(), v)).collect();
    for (n, entry) in put.iter().enumerate() {
        let record = by_number[&(n as u64)];
        let sequence = entry["SequenceNumber"].as_str().unwrap();
        assert_eq!(record["kinesis"]["sequenceNumber"], sequence);
        assert_eq!(record["eventID"], format!("{}:{sequence}", entry["ShardId"].as_str().unwrap()));
        assert_eq!(record["kinesis"]["partitionKey"], format!("key-{}", n % 20));
        assert_eq!(record["eventSource"], "aws:kinesis");
        assert_eq!(record["eventName"], "aws:kinesis:record");
        assert_eq!(record["kinesis"]["kinesisSchemaVersion"], "1.0");
        assert_eq!(record["eventSourceARN"], format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"));
        assert!(record["kinesis"]["approximateArrivalTimestamp"].as_f64().is_some_and(|t| t > 1.6e9), "{record}");
    }
    stop(running).await;
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).expect("checkpoints written")).unwrap();
    assert_eq!(saved["stream"], stream.as_str());
    assert_eq!(saved["shards"].as_object().map(|s| s.len()), Some(3), "{saved}");

    boto.put(&stream, &records(300, 50, 20)).await;
    let mut running = start(&endpoint, &stream, &state, "").await;
    let values = next(&mut running.out, 50).await;
    let numbers: BTreeSet<u64> = values.iter().map(|v| payload(v)["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (300..350).collect(), "only what came after the checkpoints");
    // Nothing else arrives: one more record is the next thing received.
    boto.put(&stream, &records(350, 1, 20)).await;
    assert_eq!(payload(&next(&mut running.out, 1).await[0])["n"], 350);
    stop(running).await;
    boto.delete_stream(&stream).await;
}

#[tokio::test]
async fn a_split_shard_s_children_start_once_the_parent_is_finished_and_each_key_stays_in_order() {
    let (Some(endpoint), Some(mut boto)) = (kinesalite(), async { Boto::start(&kinesalite()?).await }.await) else { return };
    let stream = unique_stream("reshard");
    boto.create_stream(&stream, 1).await;
    boto.put(&stream, &records(0, 100, 10)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(&endpoint, &stream, &dir.path().join("state.json"), "").await;
    let mut values = next(&mut running.out, 100).await;

    // Split the only shard in two at the middle of the hash range.
    let half = (1u128 << 127).to_string();
    boto.call("split_shard", json!({"StreamName": stream, "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": half})).await.expect("split");
    boto.wait_active(&stream).await;
    boto.put(&stream, &records(100, 100, 10)).await;
    values.extend(next(&mut running.out, 100).await);
    let numbers: BTreeSet<u64> = values.iter().map(|v| payload(v)["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..200).collect());
    assert_in_order(&values);
    let late: BTreeSet<&str> = values[100..].iter().map(|v| v["eventID"].as_str().unwrap().split(':').next().unwrap()).collect();
    assert_eq!(late, BTreeSet::from(["shardId-000000000001", "shardId-000000000002"]), "the children's records");
    stop(running).await;
    boto.delete_stream(&stream).await;
}

/// The arrival time of every record of `stream` (read from its start with boto3), by payload.
async fn arrivals(boto: &mut Boto, stream: &str, shards: u32) -> BTreeMap<u64, f64> {
    let mut arrivals = BTreeMap::new();
    for shard in 0..shards {
        let shard_id = format!("shardId-{shard:012}");
        let iterator = boto
            .call("get_shard_iterator", json!({"StreamName": stream, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}))
            .await
            .expect("an iterator");
        let got = boto.call("get_records", json!({"ShardIterator": iterator["ShardIterator"]})).await.expect("records");
        for record in got["Records"].as_array().expect("records") {
            let data: Value = serde_json::from_str(record["Data"].as_str().expect("data")).expect("JSON");
            arrivals.insert(data["n"].as_u64().expect("n"), record["ApproximateArrivalTimestamp"].as_f64().expect("a time"));
        }
    }
    arrivals
}

#[tokio::test]
async fn latest_starts_after_what_is_there_and_at_timestamp_at_the_first_record_at_that_time() {
    let (Some(endpoint), Some(mut boto)) = (kinesalite(), async { Boto::start(&kinesalite()?).await }.await) else { return };
    let stream = unique_stream("positions");
    boto.create_stream(&stream, 2).await;
    boto.put(&stream, &records(0, 10, 4)).await;
    boto.put(&stream, &records(10, 10, 4)).await;
    let dir = tempfile::tempdir().unwrap();

    // AT_TIMESTAMP at the arrival of the second call's first record: the records that arrived
    // then or later, as the stream itself says.
    let arrivals = arrivals(&mut boto, &stream, 2).await;
    let at = arrivals[&10];
    let expected: BTreeSet<u64> = arrivals.iter().filter(|(_, t)| **t >= at).map(|(n, _)| *n).collect();
    assert!(expected.len() >= 10 && expected.iter().all(|n| *n >= 10 || arrivals[n] == at), "{arrivals:?}");
    let mut running =
        start(&endpoint, &stream, &dir.path().join("at.json"), &format!("starting_position = \"AT_TIMESTAMP\"\nstarting_position_timestamp = {at}"))
            .await;
    let values = next(&mut running.out, expected.len()).await;
    let numbers: BTreeSet<u64> = values.iter().map(|v| payload(v)["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, expected);
    stop(running).await;

    // LATEST: only what is put after the source has its iterators (it has once each shard was
    // read once).
    let mut running = start(&endpoint, &stream, &dir.path().join("latest.json"), "starting_position = \"LATEST\"").await;
    let metrics = running.pipeline.metrics().clone();
    crate::support::wait_until("a first read of both shards", 20, || {
        (metrics.total(runnel_connectors::kinesis::consumer::metrics::GET_RECORDS, Some(("node", "in"))) >= 2.0).then_some(())
    })
    .await;
    boto.put(&stream, &records(20, 5, 4)).await;
    let values = next(&mut running.out, 5).await;
    let numbers: BTreeSet<u64> = values.iter().map(|v| payload(v)["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (20..25).collect());
    stop(running).await;
    boto.delete_stream(&stream).await;
}
