//! The pipeline the `lambda` block's tests run: a scripted source of Kinesis-shaped records,
//! each tracked for acknowledgement, the block, and a collecting sink on each of its ports;
//! and handlers written in Rust that record their invocations.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use runnel_engine::{
    Ack, AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, CancellationToken, Component, Message, Metadata, Origin,
    PipelineBuilder, Role, RunContext, Stream, async_trait,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::lambda::{Handler, HandlerConfig, HandlerError, LambdaConfig};
use crate::test_support::Collected;

pub(super) const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/chat";

/// Sequence number `i` of a shard: 56 digits, as Kinesis's are, increasing with `i`.
pub(super) fn seq(i: u64) -> String {
    format!("49590338271490256608559692538361571095921575989136{i:06}")
}

/// The arrival time of the `i`th record of [`records`], in ms since the epoch.
pub(super) fn arrival_ms(i: u64) -> i64 {
    1_545_084_650_987 + i as i64 * 1000
}

/// Now, in ms since the epoch.
pub(super) fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A record message as the Kinesis sources make it, with `data` as its JSON in base64.
pub(super) fn record(shard: u32, i: u64, key: &str, data: &Value, arrival_s: f64) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(data.to_string());
    json!({
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key, "sequenceNumber": seq(i), "data": data,
                    "approximateArrivalTimestamp": arrival_s},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": format!("shardId-{shard:012}:{}", seq(i)),
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::000000000000:role/runnel",
        "awsRegion": "us-east-1", "eventSourceARN": STREAM_ARN,
    })
}

/// Records `range` of `shard`, with the keys `key` gives and data `{"n": i}`.
pub(super) fn records(shard: u32, range: std::ops::Range<u64>, key: impl Fn(u64) -> String) -> Vec<Value> {
    range.map(|i| record(shard, i, &key(i), &json!({"n": i}), arrival_ms(i) as f64 / 1000.0)).collect()
}

/// A message of the `kafka` source: the value, and topic, partition, offset, key, timestamp and
/// one header in its metadata.
pub(super) fn kafka_message(topic: &str, partition: i32, offset: u64, value: Value) -> Message {
    let stream = Stream::new(Arc::from("kafka"), Some(Arc::from(topic)));
    let meta = Metadata {
        key: Some(Bytes::from(format!("key-{offset}"))),
        timestamp: Some(1_545_084_650_987 + offset as i64),
        headers: Some(Arc::new(vec![("headerKey".to_owned(), Bytes::from_static(b"headerValue"))])),
        origin: Origin { from: Some(stream), partition: Some(partition), offset: Some(offset) },
        ..Metadata::default()
    };
    Message::with_meta(value, meta)
}

/// What the scripted source does, in order.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// Sends these records as one batch.
    Send(Vec<Value>),
    /// Sends these messages (with their metadata) as one batch.
    Messages(Vec<Message>),
    /// Waits (paused time advances).
    SleepMs(u64),
    /// Waits until the wall clock (as the block's clock reads it) shows this many ms.
    SleepUntilWall(i64),
}

/// What came out of a run.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    ports: HashMap<&'static str, Vec<Value>>,
    /// The final acknowledgement of each record sent, in order.
    pub(super) acks: Vec<AckStatus>,
}

impl Outcome {
    /// The values that reached `port`'s sink (`out`, `on_failure`, `windows`, `errors`).
    pub(super) fn port(&self, port: &str) -> Vec<Value> {
        self.ports.get(port).cloned().unwrap_or_default()
    }
}

/// Runs the block on `steps` until everything has drained.
pub(super) async fn run(config: LambdaConfig, steps: Vec<Step>) -> Outcome {
    run_checked(config, steps, |_| {}).await
}

/// As [`run`], calling `check` with the id of each record as its acknowledgement arrives.
pub(super) async fn run_checked(config: LambdaConfig, steps: Vec<Step>, check: impl FnMut(u64) + Send + 'static) -> Outcome {
    let (pipeline, outcome) = pipeline(config, steps, Box::new(check));
    pipeline.start().await.expect("starts").wait().await.expect("runs");
    outcome.finish()
}

/// Sends `records`, waits for `gate`'s first invocation, shuts the pipeline down, then lets the
/// invocation finish.
pub(super) async fn run_and_stop(config: LambdaConfig, records: Vec<Value>, gate: Gate) -> Outcome {
    let (pipeline, outcome) = pipeline(config, vec![Step::Send(records)], Box::new(|_| {}));
    let running = pipeline.start().await.expect("starts");
    let stop: CancellationToken = running.shutdown_token();
    let waiting = tokio::spawn(running.run_until(stop.clone().cancelled_owned(), Duration::from_secs(30)));
    gate.0.entered.notified().await;
    stop.cancel();
    // Let the block see the shutdown before the invocation ends.
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.0.release.notify_one();
    waiting.await.expect("joins").expect("drains");
    outcome.finish()
}

struct Pending {
    ports: Vec<(&'static str, Collected)>,
    acks: Arc<Mutex<Vec<Ack>>>,
}

impl Pending {
    fn finish(self) -> Outcome {
        let mut acks = std::mem::take(&mut *lock(&self.acks));
        acks.sort_by_key(|ack| ack.id);
        let ports = self.ports.into_iter().map(|(name, collected)| (name, collected.take())).collect();
        Outcome { ports, acks: acks.into_iter().map(|ack| ack.status).collect() }
    }
}

type Check = Box<dyn FnMut(u64) + Send>;

fn pipeline(config: LambdaConfig, steps: Vec<Step>, check: Check) -> (runnel_engine::Pipeline, Pending) {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let source = Script { steps: Mutex::new(Some((steps, check))), acks: acks.clone() };
    let mut builder = PipelineBuilder::new().source("in", source).block("block", ["in"], config);
    let mut ports = Vec::new();
    for port in ["out", "on_failure", "windows", "errors"] {
        let collected = Collected::default();
        builder = builder.sink(&format!("sink_{port}"), [format!("block.{port}")], collected.clone());
        ports.push((port, collected));
    }
    (builder.build().expect("the test pipeline is valid"), Pending { ports, acks })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scripted source.
struct Script {
    steps: Mutex<Option<(Vec<Step>, Check)>>,
    acks: Arc<Mutex<Vec<Ack>>>,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Script")
    }
}

#[async_trait]
impl BlockConfig for Script {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let (steps, check) = lock(&self.steps).take().expect("built once");
        Ok(BuiltBlock::task(Running { steps, check, acks: self.acks.clone() }))
    }
}

struct Running {
    steps: Vec<Step>,
    check: Check,
    acks: Arc<Mutex<Vec<Ack>>>,
}

#[async_trait]
impl Block for Running {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let (tracker, mut received) = cx.ack_tracker();
        let mut output = cx.output;
        let (wall, start) = (wall_ms(), tokio::time::Instant::now());
        let mut next_id = 0;
        for step in self.steps {
            match step {
                Step::Send(values) => {
                    let batch = values
                        .into_iter()
                        .map(|value| {
                            let mut message = Message::new(value);
                            message.acks = tracker.token(next_id);
                            next_id += 1;
                            message
                        })
                        .collect();
                    output.send(batch).await?;
                }
                Step::Messages(messages) => {
                    let batch = messages
                        .into_iter()
                        .map(|mut message| {
                            message.acks = tracker.token(next_id);
                            next_id += 1;
                            message
                        })
                        .collect();
                    output.send(batch).await?;
                }
                Step::SleepMs(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Step::SleepUntilWall(ms) => tokio::time::sleep_until(start + Duration::from_millis(u64::try_from(ms - wall).unwrap_or(0))).await,
            }
        }
        drop((output, tracker));
        let mut check = self.check;
        while let Some(ack) = received.recv().await {
            check(ack.id);
            lock(&self.acks).push(ack);
        }
        Ok(())
    }
}

type Answer = dyn Fn(&Value, usize) -> Result<Value, HandlerError> + Send + Sync;

/// A handler that records each event and answers as a function of it and of the call's number.
#[derive(Clone)]
pub(super) struct Recorder {
    calls: Arc<Mutex<Vec<Value>>>,
    answer: Arc<Answer>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    pub(super) fn new(answer: impl Fn(&Value, usize) -> Result<Value, HandlerError> + Send + Sync + 'static) -> Self {
        Self { calls: Arc::default(), answer: Arc::new(answer) }
    }

    pub(super) fn config(&self) -> HandlerConfig {
        HandlerConfig::rust(self.clone())
    }

    /// The events, in invocation order.
    pub(super) fn calls(&self) -> Vec<Value> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
        let call = {
            let mut calls = lock(&self.calls);
            calls.push(event.clone());
            calls.len() - 1
        };
        (self.answer)(&event, call)
    }
}

/// A handler taking a random 1–50 ms per invocation, which marks each record it finished and
/// counts the invocations at once.
#[derive(Clone, Debug)]
pub(super) struct Latency {
    finished: &'static Mutex<std::collections::HashSet<String>>,
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    rng: Arc<Mutex<SmallRng>>,
}

impl Latency {
    pub(super) fn new(finished: &'static Mutex<std::collections::HashSet<String>>) -> Self {
        let seed = wall_ms() as u64;
        eprintln!("latency seed {seed}");
        Self { finished, now: Arc::default(), most: Arc::default(), rng: Arc::new(Mutex::new(SmallRng::seed_from_u64(seed))) }
    }

    pub(super) fn most_in_flight(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Handler for Latency {
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let ms = lock(&self.rng).random_range(1..=50);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let mut finished = lock(self.finished);
        for record in event["Records"].as_array().into_iter().flatten() {
            finished.insert(record["kinesis"]["sequenceNumber"].as_str().unwrap_or_default().to_owned());
        }
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(json!({}))
    }
}

/// A handler whose first invocation waits until released; the others answer at once.
#[derive(Clone, Debug, Default)]
pub(super) struct Gate(Arc<GateInner>);

#[derive(Debug, Default)]
pub(super) struct GateInner {
    entered: Notify,
    release: Notify,
    calls: AtomicUsize,
}

#[async_trait]
impl Handler for Gate {
    async fn invoke(&self, _event: Value) -> Result<Value, HandlerError> {
        if self.0.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.0.entered.notify_one();
            self.0.release.notified().await;
        }
        Ok(json!({}))
    }
}

/// Stand-ins for the connectors' `memory` source and sink, so that whole pipeline files can be
/// validated in this crate.
#[derive(Debug, Deserialize)]
pub(super) struct MemoryStandIn {}

#[async_trait]
impl BlockConfig for MemoryStandIn {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Err(BuildError::Invalid("a stand-in for validation only".into()))
    }
}

impl Component for MemoryStandIn {
    const TYPE: &'static str = "memory";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "A stand-in";
    const EXAMPLE: &'static str = "";
}

/// The on-failure record of a Kinesis event source, as Lambda documents it (§1.4), with the
/// records under `payload`: nothing more, nothing less.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct OnFailureRecord {
    pub(super) request_context: RequestContext,
    #[allow(dead_code)]
    response_context: ResponseContext,
    #[allow(dead_code)]
    version: String,
    #[allow(dead_code)]
    timestamp: String,
    #[serde(rename = "KinesisBatchInfo")]
    pub(super) kinesis_batch_info: KinesisBatchInfo,
    #[allow(dead_code)]
    payload: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct RequestContext {
    request_id: String,
    function_arn: String,
    condition: String,
    pub(super) approximate_invoke_count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct ResponseContext {
    status_code: u16,
    executed_version: String,
    function_error: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct KinesisBatchInfo {
    shard_id: String,
    start_sequence_number: String,
    end_sequence_number: String,
    approximate_arrival_of_first_record: String,
    approximate_arrival_of_last_record: String,
    pub(super) batch_size: usize,
    stream_arn: String,
}
