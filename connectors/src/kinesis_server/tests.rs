//! The endpoint's operations called directly (no HTTP), with a clock moved by hand: routing,
//! AWS's validation errors, ordering, iterators, throttling, durability across a reopen.

use std::sync::Arc;

use runnel_engine::PipelineMetrics;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::api::Api;
use super::clock::{Clock, ManualClock};
use super::errors::ApiError;
use super::metrics::ServerMetrics;
use super::streams::Streams;
use super::writer::{FsyncPolicy, Writer};

const START_MS: i64 = 1_796_100_000_000;

struct Harness {
    api: Api,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn harness_in(dir: &std::path::Path, max_queued_records: usize) -> (Api, Arc<ManualClock>) {
    harness_with(dir, max_queued_records, None)
}

fn harness_with(dir: &std::path::Path, max_queued_records: usize, delivery: Option<std::time::Duration>) -> (Api, Arc<ManualClock>) {
    let streams = Arc::new(Streams::open(dir, 1 << 20).expect("opened"));
    let clock = Arc::new(ManualClock::new(START_MS));
    let metrics = ServerMetrics::register(&PipelineMetrics::new(), "in");
    let (appends, queued) = mpsc::channel(64);
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let writer = Writer {
        streams: Arc::clone(&streams),
        policy: FsyncPolicy::Always,
        interval: std::time::Duration::from_secs(1),
        clock: dyn_clock.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(writer.run(queued));
    let api = Api {
        streams,
        writer: appends,
        clock: dyn_clock,
        metrics,
        region: "us-east-1".into(),
        account: "000000000000".into(),
        max_queued_records,
        max_shards: 16,
        retention_hours: 24,
        delivery,
    };
    (api, clock)
}

fn harness(max_queued_records: usize) -> Harness {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (api, clock) = harness_in(dir.path(), max_queued_records);
    Harness { api, clock, _dir: Some(dir) }
}

async fn call(api: &Api, operation: &str, body: Value) -> Result<Value, ApiError> {
    let answer = api.call(operation, &serde_json::to_vec(&body).expect("json")).await?;
    Ok(if answer.is_empty() { Value::Null } else { serde_json::from_slice(&answer).expect("the answer is JSON") })
}

async fn ok(api: &Api, operation: &str, body: Value) -> Value {
    call(api, operation, body).await.unwrap_or_else(|e| panic!("{operation} failed: {e}"))
}

async fn err(api: &Api, operation: &str, body: Value) -> (String, String) {
    let error = call(api, operation, body).await.expect_err("an error");
    (error.kind.to_owned(), error.message)
}

fn data(text: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text)
}

#[tokio::test]
async fn records_route_by_md5_and_explicit_hash_keys_as_aws_routes_them() {
    let h = harness(100);
    ok(&h.api, "CreateStream", json!({"StreamName": "r", "ShardCount": 4})).await;
    let records: Vec<Value> = ["a", "user-42", "1", "partitionKey-0"].iter().map(|k| json!({"Data": data(k), "PartitionKey": k})).collect();
    let answer = ok(&h.api, "PutRecords", json!({"StreamName": "r", "Records": records})).await;
    let shards: Vec<&str> = answer["Records"].as_array().expect("records").iter().map(|r| r["ShardId"].as_str().expect("shard")).collect();
    assert_eq!(shards, ["shardId-000000000000", "shardId-000000000001", "shardId-000000000003", "shardId-000000000003"]);
    assert_eq!(answer["FailedRecordCount"], 0);
    let zero = ok(&h.api, "PutRecord", json!({"StreamName": "r", "Data": "", "PartitionKey": "z", "ExplicitHashKey": "0"})).await;
    assert_eq!(zero["ShardId"], "shardId-000000000000");
    let too_big = err(
        &h.api,
        "PutRecord",
        json!({"StreamName": "r", "Data": "", "PartitionKey": "z", "ExplicitHashKey": "340282366920938463463374607431768211456"}),
    )
    .await;
    assert_eq!(
        too_big,
        (
            "InvalidArgumentException".into(),
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was 340282366920938463463374607431768211456".into()
        )
    );
    let malformed = err(&h.api, "PutRecord", json!({"StreamName": "r", "Data": "", "PartitionKey": "z", "ExplicitHashKey": "-1"})).await;
    assert_eq!(malformed.0, "ValidationException");
    assert!(
        malformed.1.contains("Value '-1' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern"),
        "{}",
        malformed.1
    );
}

#[tokio::test]
async fn oversized_batches_records_and_keys_get_awss_validation_errors() {
    let h = harness(1000);
    ok(&h.api, "CreateStream", json!({"StreamName": "v"})).await;
    let many: Vec<Value> = (0..501).map(|i| json!({"Data": "", "PartitionKey": format!("k{i}")})).collect();
    assert_eq!(
        err(&h.api, "PutRecords", json!({"StreamName": "v", "Records": many})).await,
        (
            "ValidationException".into(),
            "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to 500".into()
        )
    );
    let big = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![7u8; (1 << 20) + 1]);
    assert_eq!(
        err(&h.api, "PutRecords", json!({"StreamName": "v", "Records": [{"Data": "", "PartitionKey": "a"}, {"Data": big, "PartitionKey": "b"}]})).await,
        (
            "ValidationException".into(),
            "1 validation error detected: Value at 'records.2.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576".into()
        )
    );
    assert_eq!(
        err(&h.api, "PutRecord", json!({"StreamName": "v", "Data": "", "PartitionKey": "k".repeat(257)})).await,
        (
            "ValidationException".into(),
            "1 validation error detected: Value at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"
                .into()
        )
    );
    assert_eq!(
        err(&h.api, "PutRecord", json!({"StreamName": "nope", "Data": "", "PartitionKey": "k"})).await,
        ("ResourceNotFoundException".into(), "Stream nope under account 000000000000 not found.".into())
    );
    assert_eq!(err(&h.api, "CreateStream", json!({"StreamName": "v"})).await.0, "ResourceInUseException");
    assert_eq!(err(&h.api, "PutRecords", json!({"StreamName": "v", "Records": 5})).await.0, "SerializationException");
    // Still serving.
    assert_eq!(ok(&h.api, "PutRecord", json!({"StreamName": "v", "Data": data("x"), "PartitionKey": "k"})).await["ShardId"], "shardId-000000000000");
}

#[tokio::test]
async fn sequence_numbers_increase_and_reads_resume_after_a_sequence_number_without_gap_or_duplicate() {
    let h = harness(100);
    ok(&h.api, "CreateStream", json!({"StreamName": "o", "ShardCount": 2})).await;
    let mut numbers = Vec::new();
    for i in 0..300 {
        let answer = ok(&h.api, "PutRecord", json!({"StreamName": "o", "Data": data(&i.to_string()), "PartitionKey": "one-key"})).await;
        numbers.push(answer["SequenceNumber"].as_str().expect("number").to_owned());
    }
    for pair in numbers.windows(2) {
        assert!(pair[0].len() == pair[1].len() && pair[0] < pair[1], "as big integers: {pair:?}");
    }
    let shard = ok(&h.api, "PutRecord", json!({"StreamName": "o", "Data": "", "PartitionKey": "one-key"})).await["ShardId"].clone();
    let iterator = ok(&h.api, "GetShardIterator", json!({"StreamName": "o", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})).await;
    let mut next = iterator["ShardIterator"].clone();
    let mut read = Vec::new();
    while read.len() < 300 {
        let page = ok(&h.api, "GetRecords", json!({"ShardIterator": next, "Limit": 70})).await;
        let records = page["Records"].as_array().expect("records");
        assert!(records.len() <= 70);
        read.extend(records.iter().map(|r| r["SequenceNumber"].as_str().expect("number").to_owned()));
        next = page["NextShardIterator"].clone();
    }
    assert_eq!(read[..300], numbers[..]);
    let after = ok(
        &h.api,
        "GetShardIterator",
        json!({"StreamName": "o", "ShardId": shard, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": numbers[149]}),
    )
    .await;
    let page = ok(&h.api, "GetRecords", json!({"ShardIterator": after["ShardIterator"], "Limit": 2})).await;
    assert_eq!(page["Records"][0]["SequenceNumber"], numbers[150].as_str());
    assert_eq!(page["Records"][0]["Data"], data("150"));
    let at = ok(
        &h.api,
        "GetShardIterator",
        json!({"StreamName": "o", "ShardId": shard, "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": numbers[7]}),
    )
    .await;
    assert_eq!(
        ok(&h.api, "GetRecords", json!({"ShardIterator": at["ShardIterator"], "Limit": 1})).await["Records"][0]["SequenceNumber"],
        numbers[7].as_str()
    );
}

#[tokio::test]
async fn iterators_expire_after_five_minutes_garbage_is_refused_and_a_caught_up_shard_says_so() {
    let h = harness(100);
    ok(&h.api, "CreateStream", json!({"StreamName": "i"})).await;
    ok(&h.api, "PutRecord", json!({"StreamName": "i", "Data": data("x"), "PartitionKey": "k"})).await;
    let latest = ok(&h.api, "GetShardIterator", json!({"StreamName": "i", "ShardId": "shardId-000000000000", "ShardIteratorType": "LATEST"})).await;
    let page = ok(&h.api, "GetRecords", json!({"ShardIterator": latest["ShardIterator"]})).await;
    assert_eq!((page["Records"].clone(), page["MillisBehindLatest"].clone()), (json!([]), json!(0)));
    assert!(page["NextShardIterator"].is_string());
    h.clock.advance(300_001);
    let (kind, message) = err(&h.api, "GetRecords", json!({"ShardIterator": page["NextShardIterator"]})).await;
    assert_eq!(kind, "ExpiredIteratorException");
    assert!(
        message.starts_with("Iterator expired. The iterator was created at time ")
            && message.ends_with("further in the future than the tolerated delay of 300000 milliseconds."),
        "{message}"
    );
    assert_eq!(
        err(&h.api, "GetRecords", json!({"ShardIterator": "c29tZXRoaW5nIGVsc2U"})).await,
        ("InvalidArgumentException".into(), "Invalid ShardIterator.".into())
    );
    let at = ok(
        &h.api,
        "GetShardIterator",
        json!({"StreamName": "i", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": START_MS as f64 / 1000.0}),
    )
    .await;
    assert_eq!(ok(&h.api, "GetRecords", json!({"ShardIterator": at["ShardIterator"]})).await["Records"][0]["Data"], data("x"));
    assert_eq!(
        err(&h.api, "GetShardIterator", json!({"StreamName": "i", "ShardId": "shardId-000000000009", "ShardIteratorType": "LATEST"})).await.0,
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn a_full_shard_queue_throttles_those_records_only_and_a_retry_of_the_failed_ones_converges() {
    let h = harness(2);
    ok(&h.api, "CreateStream", json!({"StreamName": "t", "ShardCount": 4})).await;
    // "a" goes to shard 0, "user-42" to shard 1: shard 0's queue takes 2 records of a request.
    let records = json!([{"Data": data("1"), "PartitionKey": "a"}, {"Data": data("2"), "PartitionKey": "a"}, {"Data": data("3"), "PartitionKey": "a"},
        {"Data": data("4"), "PartitionKey": "user-42"}]);
    let answer = ok(&h.api, "PutRecords", json!({"StreamName": "t", "Records": records})).await;
    assert_eq!(answer["FailedRecordCount"], 1);
    assert_eq!(
        answer["Records"][2],
        json!({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard shardId-000000000000 in stream t under account 000000000000."})
    );
    assert_eq!(answer["Records"][3]["ShardId"], "shardId-000000000001");
    let retry = ok(&h.api, "PutRecords", json!({"StreamName": "t", "Records": [records[2]]})).await;
    assert_eq!(retry["FailedRecordCount"], 0, "the queue drained once the first request was written");
}

#[tokio::test]
async fn what_was_answered_is_read_back_after_the_endpoint_is_reopened() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let number = {
        let (api, _clock) = harness_in(dir.path(), 100);
        ok(&api, "CreateStream", json!({"StreamName": "d", "ShardCount": 2})).await;
        ok(&api, "PutRecord", json!({"StreamName": "d", "Data": data("kept"), "PartitionKey": "k"})).await["SequenceNumber"].clone()
    };
    let (api, _clock) = harness_in(dir.path(), 100);
    let listed = ok(&api, "ListStreams", json!({})).await;
    assert_eq!(listed["StreamNames"], json!(["d"]));
    let summary = ok(&api, "DescribeStreamSummary", json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/d"})).await;
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 2);
    let shards = ok(&api, "ListShards", json!({"StreamName": "d", "MaxResults": 1})).await;
    assert_eq!(shards["Shards"].as_array().map(Vec::len), Some(1));
    let rest = ok(&api, "ListShards", json!({"NextToken": shards["NextToken"]})).await;
    assert_eq!(rest["Shards"][0]["ShardId"], "shardId-000000000001");
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let iterator = ok(&api, "GetShardIterator", json!({"StreamName": "d", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})).await;
        let page = ok(&api, "GetRecords", json!({"ShardIterator": iterator["ShardIterator"]})).await;
        if let Some(record) = page["Records"].get(0) {
            assert_eq!((record["SequenceNumber"].clone(), record["Data"].clone()), (number.clone(), json!(data("kept"))));
            return;
        }
    }
    panic!("the record is gone");
}

/// With `ack = "delivered"` and nothing delivering (no source runs here), a put waits for its
/// timeout and its records are answered as failed: never a success that was not delivered.
#[tokio::test]
async fn a_put_waiting_for_delivery_fails_its_records_when_nothing_delivers_them() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (api, _clock) = harness_with(dir.path(), 100, Some(std::time::Duration::from_millis(50)));
    ok(&api, "CreateStream", json!({"StreamName": "w"})).await;
    let answer = ok(&api, "PutRecords", json!({"StreamName": "w", "Records": [{"Data": data("x"), "PartitionKey": "k"}]})).await;
    assert_eq!(answer["FailedRecordCount"], 1);
    assert_eq!(answer["Records"][0]["ErrorCode"], "InternalFailure");
    assert_eq!(err(&api, "PutRecord", json!({"StreamName": "w", "Data": data("y"), "PartitionKey": "k"})).await.0, "InternalFailure");
    // The source's checkpoint passes the next record (counter 2): its put is answered at once.
    api.streams.get("w").expect("w").shards[0].delivered.send_replace(3);
    assert_eq!(ok(&api, "PutRecord", json!({"StreamName": "w", "Data": data("z"), "PartitionKey": "k"})).await["ShardId"], "shardId-000000000000");
}
