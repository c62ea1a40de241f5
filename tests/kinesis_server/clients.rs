//! boto3, the AWS CLI and raw HTTP against runnel, and the same calls against kinesalite.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use runnel::{RunningPipeline, take_output};
use serde_json::{Value, json};

use super::{peer, python, run_python, unique};
use crate::support::{free_addr, pipeline};

const WAIT: Duration = Duration::from_secs(30);

/// Calls the same operations through boto3 and prints, for each, the key paths of the answer
/// (without `ResponseMetadata`) or the error code; then the shards of the routing vectors.
const SAME_CALLS: &str = r#"
import sys, json, time, boto3, botocore
from botocore.config import Config
url, stream = sys.argv[1], sys.argv[2]
k = boto3.client("kinesis", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                 config=Config(retries={"max_attempts": 0}))
def keys(v, prefix=""):
    out = set()
    if isinstance(v, dict):
        for key, val in v.items():
            if key == "ResponseMetadata":
                continue
            out.add(prefix + key)
            out |= keys(val, prefix + key + ".")
    elif isinstance(v, list):
        for item in v:
            out |= keys(item, prefix + "[].")
    return out
results = []
def call(op, **kw):
    try:
        r = getattr(k, op)(**kw)
        results.append({"op": op, "keys": sorted(keys(r))})
        return r
    except botocore.exceptions.ClientError as e:
        results.append({"op": op, "error": e.response["Error"]["Code"], "message": e.response["Error"].get("Message", "")})
        return None
call("create_stream", StreamName=stream, ShardCount=4)
for _ in range(100):
    if k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
        break
    time.sleep(0.05)
call("describe_stream_summary", StreamName=stream)
call("describe_stream", StreamName=stream)
call("list_shards", StreamName=stream)
call("list_streams")
put = call("put_records", StreamName=stream, Records=[{"Data": p.encode(), "PartitionKey": p} for p in ["a", "user-42", "1", "partitionKey-0"]])
one = call("put_record", StreamName=stream, Data=b"x", PartitionKey="a", ExplicitHashKey="0")
it = call("get_shard_iterator", StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")
got = call("get_records", ShardIterator=it["ShardIterator"], Limit=10)
call("get_shard_iterator", StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="AFTER_SEQUENCE_NUMBER",
     StartingSequenceNumber=one["SequenceNumber"])
call("get_shard_iterator", StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="LATEST")
call("put_record", StreamName=stream, Data=b"x", PartitionKey="a", ExplicitHashKey=str(2**128))
call("put_records", StreamName=stream, Records=[{"Data": b"x", "PartitionKey": "k%d" % i} for i in range(501)])
call("put_record", StreamName=stream, Data=b"x", PartitionKey="k" * 257)
call("put_records", StreamName=stream, Records=[{"Data": b"x" * (1024 * 1024 + 1), "PartitionKey": "big"}])
call("describe_stream_summary", StreamName=stream + "-missing")
call("put_record", StreamName=stream + "-missing", Data=b"x", PartitionKey="a")
call("create_stream", StreamName=stream, ShardCount=1)
call("get_shard_iterator", StreamName=stream, ShardId="shardId-000000000009", ShardIteratorType="LATEST")
call("get_records", ShardIterator="Z2FyYmFnZQ==")
call("delete_stream", StreamName=stream)
print(json.dumps({"results": results, "shards": [r["ShardId"] for r in put["Records"]],
                  "numbers": [r["SequenceNumber"] for r in put["Records"]] + [one["SequenceNumber"]],
                  "read": [r["Data"].decode() for r in got["Records"]]}))
"#;

fn server_toml(address: SocketAddr, data: &std::path::Path) -> String {
    format!(
        "[sources.k]\ntype = \"kinesis_server\"\naddress = \"{address}\"\ndata_dir = \"{}\"\n[sinks.out]\ntype = \"memory\"\ninputs = [\"k\"]\n",
        data.display()
    )
}

async fn start(data: &std::path::Path) -> (RunningPipeline, String) {
    let address = free_addr();
    let running = pipeline(&server_toml(address, data)).start().await.expect("starts");
    (running, format!("http://{address}"))
}

async fn stop(running: RunningPipeline) {
    running.shutdown_token().cancel();
    tokio::time::timeout(WAIT, running.wait()).await.expect("stops in time").expect("stops cleanly");
}

/// boto3 through its whole API against runnel: routing vectors, ordering within a shard, the
/// records read back, AWS's error codes; and what the pipeline got is Lambda's Kinesis record
/// for each stored record (its `eventID` the shard and sequence number boto3 was answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_puts_and_reads_back_through_runnel_and_the_pipeline_gets_lambdas_records() {
    let Some(python) = python() else { return };
    let data = tempfile::tempdir().expect("temporary folder");
    let (running, url) = start(data.path()).await;
    let mut out = take_output(running.resources(), "out").expect("out");
    let stream = unique("boto3");
    let answer = tokio::task::spawn_blocking({
        let (url, stream) = (url.clone(), stream.clone());
        move || run_python(&python, SAME_CALLS, &[&url, &stream])
    })
    .await
    .expect("joins");
    assert_eq!(answer["shards"], json!(["shardId-000000000000", "shardId-000000000001", "shardId-000000000003", "shardId-000000000003"]));
    assert_eq!(answer["read"], json!(["a", "x"]), "shard 0 read from TRIM_HORIZON, in put order");
    let errors: Vec<&str> = answer["results"].as_array().expect("results").iter().filter_map(|r| r["error"].as_str()).collect();
    assert_eq!(
        errors,
        [
            "InvalidArgumentException",
            "ValidationException",
            "ValidationException",
            "ValidationException",
            "ResourceNotFoundException",
            "ResourceNotFoundException",
            "ResourceInUseException",
            "ResourceNotFoundException",
            "InvalidArgumentException"
        ]
    );
    let numbers: Vec<&str> = answer["numbers"].as_array().expect("numbers").iter().map(|n| n.as_str().expect("text")).collect();
    let mut emitted = Vec::new();
    while emitted.len() < 5 {
        let message = tokio::time::timeout(WAIT, out.recv()).await.expect("a record in time").expect("the sink runs");
        emitted.push(message.value().clone());
    }
    let ids: Vec<String> = emitted.iter().map(|v| v["eventID"].as_str().expect("eventID").to_owned()).collect();
    for (shard, number) in
        answer["shards"].as_array().expect("shards").iter().map(|s| s.as_str().expect("text")).chain(["shardId-000000000000"]).zip(&numbers)
    {
        assert!(ids.contains(&format!("{shard}:{number}")), "{shard}:{number} in {ids:?}");
    }
    let user = emitted.iter().find(|v| v["kinesis"]["partitionKey"] == "user-42").expect("user-42's record");
    assert_eq!(user["kinesis"]["data"], STANDARD.encode("user-42"));
    assert_eq!(user["eventSourceARN"], format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"));
    assert_eq!(
        (user["eventSource"].as_str(), user["eventName"].as_str(), user["kinesis"]["kinesisSchemaVersion"].as_str()),
        (Some("aws:kinesis"), Some("aws:kinesis:record"), Some("1.0"))
    );
    assert!(user["kinesis"]["approximateArrivalTimestamp"].as_f64().is_some_and(|t| t > 1.6e9));
    stop(running).await;
}

/// The same boto3 calls against kinesalite and against runnel: the same operations succeed, with
/// the same keys in their answers (runnel adds members AWS has and kinesalite 3 leaves out, which
/// the test names), and the same ones fail with the same error types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_calls_against_kinesalite_and_runnel_answer_with_the_same_keys_and_error_types() {
    let Some(python) = python() else { return };
    let Some(kinesalite) = peer("RUNNEL_KINESALITE_URL", "kinesalite") else { return };
    let data = tempfile::tempdir().expect("temporary folder");
    let (running, url) = start(data.path()).await;
    let (theirs, ours) = tokio::task::spawn_blocking(move || {
        let theirs = run_python(&python, SAME_CALLS, &[&kinesalite, &unique("same")]);
        let ours = run_python(&python, SAME_CALLS, &[&url, &unique("same")]);
        (theirs, ours)
    })
    .await
    .expect("joins");
    // Members AWS answers with that kinesalite 3.3 does not send.
    let extra = [
        "StreamDescription.StreamModeDetails",
        "StreamDescription.StreamModeDetails.StreamMode",
        "StreamDescription.EncryptionType",
        "StreamDescriptionSummary.StreamModeDetails",
        "StreamDescriptionSummary.StreamModeDetails.StreamMode",
        "StreamDescriptionSummary.EncryptionType",
        "StreamDescriptionSummary.ConsumerCount",
        "StreamSummaries",
        "StreamSummaries.[].StreamName",
        "StreamSummaries.[].StreamARN",
        "StreamSummaries.[].StreamStatus",
        "StreamSummaries.[].StreamModeDetails",
        "StreamSummaries.[].StreamModeDetails.StreamMode",
        "StreamSummaries.[].StreamCreationTimestamp",
        "EncryptionType",
        "Records.[].EncryptionType",
    ];
    let (theirs, ours) = (theirs["results"].as_array().expect("results"), ours["results"].as_array().expect("results"));
    assert_eq!(theirs.len(), ours.len());
    for (their, our) in theirs.iter().zip(ours) {
        assert_eq!(their["op"], our["op"]);
        assert_eq!(their["error"], our["error"], "{}: kinesalite {their}, runnel {our}", their["op"]);
        let keys = |v: &Value| -> Vec<String> {
            v["keys"]
                .as_array()
                .map(|k| k.iter().filter_map(|s| s.as_str()).filter(|s| !extra.contains(s)).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        assert_eq!(keys(their), keys(our), "{}", their["op"]);
    }
    stop(running).await;
}

/// What a raw request gets: status, `__type`, `message`, and whether `x-amzn-RequestId` was sent.
async fn raw(url: &str, target: Option<&str>, content_type: &str, body: &'static str, signed: bool) -> (u16, String, String, bool) {
    let mut request = reqwest::Client::new().post(url).header("Content-Type", content_type).body(body);
    if let Some(target) = target {
        request = request.header("X-Amz-Target", target);
    }
    if signed {
        request = request
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00")
            .header("X-Amz-Date", "20260101T000000Z");
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let has_id = response.headers().contains_key("x-amzn-requestid");
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
    (status, body["__type"].as_str().unwrap_or_default().to_owned(), body["message"].as_str().unwrap_or_default().to_owned(), has_id)
}

/// Malformed and empty bodies, an unknown target, no `Authorization`, CBOR: each gets AWS's (and
/// kinesalite's) error type, every answer has a request id, and the endpoint keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_kinesalites_error_types_and_the_endpoint_keeps_serving() {
    let data = tempfile::tempdir().expect("temporary folder");
    let (running, url) = start(data.path()).await;
    let json = "application/x-amz-json-1.1";
    let cases: [(Option<&str>, &str, &'static str, bool, &str); 5] = [
        (Some("Kinesis_20131202.ListStreams"), json, "", true, "SerializationException"),
        (Some("Kinesis_20131202.ListStreams"), json, "{\"Limit\":", true, "SerializationException"),
        (Some("Kinesis_20131202.Frobnicate"), json, "{}", true, "UnknownOperationException"),
        (None, json, "{}", true, "UnknownOperationException"),
        (Some("Kinesis_20131202.ListStreams"), json, "{}", false, "MissingAuthenticationTokenException"),
    ];
    let kinesalite = std::env::var("RUNNEL_KINESALITE_URL").ok().filter(|u| !u.is_empty());
    for (target, content_type, body, signed, expected) in cases {
        let (status, kind, _, has_id) = raw(&url, target, content_type, body, signed).await;
        assert_eq!((status, kind.as_str(), has_id), (400, expected, true), "{target:?} {body:?}");
        if let Some(kinesalite) = &kinesalite {
            assert_eq!(raw(kinesalite, target, content_type, body, signed).await.1, expected, "kinesalite: {target:?} {body:?}");
        }
    }
    let (status, kind, message, _) = raw(&url, Some("Kinesis_20131202.ListStreams"), "application/x-amz-cbor-1.1", "\u{a0}", true).await;
    assert_eq!((status, kind.as_str()), (400, "SerializationException"));
    assert!(message.contains("AWS_CBOR_DISABLE=1") && message.contains("-Daws.cborEnabled=false"), "{message}");
    let (status, _, _, has_id) = raw(&url, Some("Kinesis_20131202.ListStreams"), "application/x-amz-json-1.0", "{}", true).await;
    assert_eq!((status, has_id), (200, true), "still serving, and JSON 1.0 is read too");
    stop(running).await;
}

/// The AWS CLI (`aws --endpoint-url`): `create-stream`, `describe-stream-summary`, `put-record`
/// and `get-records` parse and show what was put.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_describes_puts_and_gets_records() {
    let Some(cli) = peer("RUNNEL_AWS_CLI", "the AWS CLI") else { return };
    let data = tempfile::tempdir().expect("temporary folder");
    let (running, url) = start(data.path()).await;
    let aws = move |args: &[&str]| -> Value {
        let out = std::process::Command::new(&cli)
            .args(["--endpoint-url", &url, "--output", "json", "kinesis"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .output()
            .expect("the CLI runs");
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let answers = tokio::task::spawn_blocking(move || {
        aws(&["create-stream", "--stream-name", "cli", "--shard-count", "2"]);
        let summary = aws(&["describe-stream-summary", "--stream-name", "cli"]);
        let put = aws(&["put-record", "--stream-name", "cli", "--partition-key", "room-1", "--data", "hello"]);
        let shard = put["ShardId"].as_str().unwrap_or_default().to_owned();
        let iterator = aws(&["get-shard-iterator", "--stream-name", "cli", "--shard-id", &shard, "--shard-iterator-type", "TRIM_HORIZON"]);
        let records = aws(&["get-records", "--shard-iterator", iterator["ShardIterator"].as_str().unwrap_or_default()]);
        (summary, put, records)
    })
    .await
    .expect("joins");
    let (summary, put, records) = answers;
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 2);
    assert_eq!(summary["StreamDescriptionSummary"]["StreamStatus"], "ACTIVE");
    assert_eq!(records["Records"][0]["SequenceNumber"], put["SequenceNumber"]);
    assert_eq!(records["Records"][0]["PartitionKey"], "room-1");
    // The CLI v1 sends `--data` text as it is and shows blobs as base64.
    assert_eq!(records["Records"][0]["Data"], STANDARD.encode("hello"));
    assert_eq!(records["MillisBehindLatest"], 0);
    stop(running).await;
}

/// Tries `put_record` with each `key:secret` of the arguments and prints `ok` or the error code.
const SIGNED: &str = r#"
import sys, json, boto3, botocore
from botocore.config import Config
url = sys.argv[1]
out = []
for pair in sys.argv[2:]:
    key, secret = pair.split(":")
    k = boto3.client("kinesis", endpoint_url=url, region_name="eu-west-1", aws_access_key_id=key, aws_secret_access_key=secret,
                     config=Config(retries={"max_attempts": 0}))
    try:
        k.put_record(StreamName="signed", Data=b'{"n": 1}', PartitionKey="p")
        out.append("ok")
    except botocore.exceptions.ClientError as e:
        out.append(e.response["Error"]["Code"])
print(json.dumps(out))
"#;

/// With `credentials`, boto3's SigV4 signatures are verified: the right secret passes, a wrong
/// one gets `InvalidSignatureException`, an unknown key `UnrecognizedClientException`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_credentials_boto3s_signatures_are_verified() {
    let Some(python) = python() else { return };
    let data = tempfile::tempdir().expect("temporary folder");
    let address = free_addr();
    let toml = format!(
        "[sources.k]\ntype = \"kinesis_server\"\naddress = \"{address}\"\ndata_dir = \"{}\"\nstreams = [{{ name = \"signed\" }}]\n\
         credentials = [{{ access_key_id = \"AKIDRUNNEL\", secret_access_key = \"s3cret/with+signs\" }}]\n[sinks.out]\ntype = \"memory\"\ninputs = [\"k\"]\n",
        data.path().display()
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let url = format!("http://{address}");
    let answers = tokio::task::spawn_blocking(move || {
        run_python(&python, SIGNED, &[&url, "AKIDRUNNEL:s3cret/with+signs", "AKIDRUNNEL:wrong", "OTHER:s3cret/with+signs"])
    })
    .await
    .expect("joins");
    assert_eq!(answers, json!(["ok", "InvalidSignatureException", "UnrecognizedClientException"]));
    stop(running).await;
}
