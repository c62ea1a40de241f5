//! boto3, driven line by line (`boto.py`): the client the tests put records with.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::support::{peers_required, root};

/// The Python that has boto3 (`RUNNEL_KINESIS_PYTHON`), or `None` (and a note) outside CI.
pub(crate) fn python() -> Option<PathBuf> {
    let found = std::env::var_os("RUNNEL_KINESIS_PYTHON").map(PathBuf::from);
    assert!(found.is_some() || !peers_required(), "RUNNEL_KINESIS_PYTHON is not set; scripts/test.sh installs boto3 and sets it");
    if found.is_none() {
        eprintln!("skipping: no boto3 (RUNNEL_KINESIS_PYTHON; run scripts/test.sh)");
    }
    found
}

/// kinesalite's URL (`RUNNEL_KINESALITE_URL`), or `None` (and a note) outside CI.
pub(crate) fn kinesalite() -> Option<String> {
    let found = std::env::var("RUNNEL_KINESALITE_URL").ok();
    assert!(found.is_some() || !peers_required(), "RUNNEL_KINESALITE_URL is not set; scripts/test.sh starts kinesalite and sets it");
    if found.is_none() {
        eprintln!("skipping: no kinesalite (RUNNEL_KINESALITE_URL; run scripts/test.sh)");
    }
    found
}

/// A boto3 Kinesis client of one endpoint.
pub(crate) struct Boto {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Boto {
    /// A client of `endpoint`, or `None` without boto3.
    pub(crate) async fn start(endpoint: &str) -> Option<Self> {
        let python = python()?;
        let mut child = Command::new(python)
            .arg(root().join("tests/kinesis/boto.py"))
            .arg(endpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("boto.py starts");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut boto = Self { _child: child, stdin, lines };
        assert_eq!(boto.line().await["ready"], true);
        Some(boto)
    }

    async fn line(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line()).await.expect("boto3 answers in time");
        serde_json::from_str(&line.expect("readable").expect("boto.py runs")).expect("a JSON line")
    }

    /// `call(**args)`: `Ok` with the answer, or `Err` with the service's error (`Code`, `Message`).
    pub(crate) async fn call(&mut self, call: &str, args: Value) -> Result<Value, Value> {
        let command = json!({"call": call, "args": args}).to_string() + "\n";
        self.stdin.write_all(command.as_bytes()).await.expect("boto.py reads");
        let mut answer = self.line().await;
        match answer.get_mut("ok") {
            Some(ok) => Ok(ok.take()),
            None => Err(answer["error"].take()),
        }
    }

    /// Creates `stream` with `shards` shards and waits until it is active.
    pub(crate) async fn create_stream(&mut self, stream: &str, shards: u32) {
        self.call("create_stream", json!({"StreamName": stream, "ShardCount": shards})).await.expect("the stream is created");
        self.wait_active(stream).await;
    }

    /// Deletes `stream` (kinesalite keeps every stream of the run in memory).
    pub(crate) async fn delete_stream(&mut self, stream: &str) {
        self.call("delete_stream", json!({"StreamName": stream})).await.expect("the stream is deleted");
    }

    /// Waits until `stream` is active (after a creation or a resharding).
    pub(crate) async fn wait_active(&mut self, stream: &str) {
        for _ in 0..200 {
            let summary = self.call("describe_stream_summary", json!({"StreamName": stream})).await.expect("described");
            if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{stream} did not become active");
    }

    /// Puts `records` (`(partition key, data)`) in one `PutRecords` call; the answer's entries.
    pub(crate) async fn put(&mut self, stream: &str, records: &[(String, String)]) -> Vec<Value> {
        let entries: Vec<Value> = records.iter().map(|(key, data)| json!({"PartitionKey": key, "Data": data})).collect();
        let answer = self.call("put_records", json!({"StreamName": stream, "Records": entries})).await.expect("put");
        assert_eq!(answer["FailedRecordCount"], 0, "{answer}");
        answer["Records"].as_array().expect("entries").clone()
    }
}

/// A stream name no other test uses (kinesalite is shared by the whole run).
pub(crate) fn unique_stream(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}
