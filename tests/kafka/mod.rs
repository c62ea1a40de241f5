//! The `kafka` source and sink against a real broker: tansu, which `scripts/test.sh` starts on
//! `RUNNEL_KAFKA_BROKERS` (default `127.0.0.1:19092`). Without a broker these tests are skipped,
//! except in CI, where they fail.
//!
//! Helpers here talk to the broker with plain rdkafka clients: topics are created with the admin
//! API, read back by assigning every partition (no consumer group, so no join delay), and a
//! group's committed offsets are asked for directly.

#![allow(unreachable_pub)]

mod crash;
mod delivery;
mod group;
mod lambda;
mod rebalance;
mod rooms;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use runnel::RunningPipeline;

use crate::support::{free_addr, http_get, peers_required, runnel_bin, wait_for};

/// The broker's address, or `None` (skip) when it is unreachable outside CI.
///
/// # Panics
/// In CI when the broker is unreachable.
pub fn brokers() -> Option<String> {
    let brokers = std::env::var("RUNNEL_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".to_owned());
    let reachable = brokers
        .split(',')
        .filter_map(|b| b.to_socket_addrs().ok())
        .flatten()
        .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
    if reachable {
        return Some(brokers);
    }
    assert!(!peers_required(), "no Kafka broker at {brokers} (scripts/test.sh starts tansu there)");
    eprintln!("skipped: no Kafka broker at {brokers}; run scripts/test.sh");
    None
}

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Consumer options every test consumer, and every source in these tests, uses: tansu delays a
/// new group's first join by about half the session timeout.
pub const SESSION_TIMEOUT: &str = "6000";

/// Creates `topic` with `partitions` partitions.
pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics([&new], &AdminOptions::new())).expect("create_topics");
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("cannot create topic {name}: {code}"));
    }
}

/// A message to produce.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub key: Option<String>,
    pub payload: String,
    pub headers: Vec<(String, String)>,
    pub partition: Option<i32>,
}

impl Record {
    pub fn json(payload: serde_json::Value) -> Self {
        Self { payload: payload.to_string(), ..Self::default() }
    }
}

/// Produces `records` to `topic` and waits until the broker has them all.
pub fn produce(brokers: &str, topic: &str, records: impl IntoIterator<Item = Record>) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().expect("producer");
    for record in records {
        let headers = record.headers.iter().fold(OwnedHeaders::new(), |all, (k, v)| all.insert(Header { key: k, value: Some(v) }));
        let mut base = BaseRecord::to(topic).payload(&record.payload).headers(headers);
        if let Some(key) = &record.key {
            base = base.key(key);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        let mut pending = base;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    pending = back;
                }
                Err((error, _)) => panic!("cannot produce: {error}"),
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("every message delivered");
}

fn partition_count(consumer: &BaseConsumer, topic: &str) -> i32 {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len() as i32)
}

/// Reads a topic from the beginning, every partition assigned (no group), keeping what it read.
pub struct TopicReader {
    consumer: BaseConsumer,
    pub messages: Vec<OwnedMessage>,
}

impl TopicReader {
    pub fn new(brokers: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut partitions = partition_count(&consumer, topic);
        let deadline = Instant::now() + Duration::from_secs(30);
        while partitions == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100)); // a topic the sink auto-creates shows up later
            partitions = partition_count(&consumer, topic);
        }
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition_offset(topic, p, Offset::Beginning).expect("offset");
        }
        consumer.assign(&list).expect("assign");
        Self { consumer, messages: Vec::new() }
    }

    /// Reads until `done` holds for what was read, or `timeout` passes (then returns false).
    pub fn read_until(&mut self, timeout: Duration, mut done: impl FnMut(&[OwnedMessage]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.messages) {
            if Instant::now() >= deadline {
                return false;
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => self.messages.push(message.detach()),
                Some(Err(error)) => eprintln!("reading: {error}"),
                None => {}
            }
        }
        true
    }
}

/// Reads `topic` from the beginning until `count` messages arrived or `timeout` passed (then
/// returns what arrived; the caller's assertion says what is missing).
pub fn read_topic(brokers: &str, topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let mut reader = TopicReader::new(brokers, topic);
    reader.read_until(timeout, |m| m.len() >= count);
    reader.messages
}

/// The sum of the high watermarks of `topic`'s partitions: how many messages it holds.
pub fn topic_size(brokers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create().expect("consumer");
    (0..partition_count(&consumer, topic)).map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).map_or(0, |(_, high)| high)).sum()
}

/// A `runnel run` process with its log in a file, killed when dropped; a failing test prints
/// the end of its log.
pub struct Runnel {
    child: Option<Child>,
    log: PathBuf,
    pub metrics: SocketAddr,
}

impl Runnel {
    /// Runs `pipeline` with `env`, its log in `dir/<name>.log`, and waits until it is ready.
    pub fn start(pipeline: &Path, env: &[(&str, &str)], dir: &Path, name: &str) -> Self {
        let metrics = free_addr();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(runnel_bin())
            .args(["run", "--metrics-addr", &metrics.to_string(), pipeline.to_str().expect("utf-8")])
            .envs(env.iter().copied())
            .env("RUNNEL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("runnel starts");
        let runnel = Self { child: Some(child), log, metrics };
        wait_for("runnel to be ready", 30, || http_get(metrics, "/ready").filter(|(status, _)| *status == 200));
        runnel
    }

    /// The `/metrics` exposition.
    pub fn metrics_text(&self) -> String {
        http_get(self.metrics, "/metrics").map(|(_, body)| body).unwrap_or_default()
    }

    /// SIGKILL: no drain, no last commit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("reaped");
        }
    }

    /// SIGTERM, then waits for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
        child.wait().expect("exits").code()
    }
}

impl Drop for Runnel {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- end of {}:", self.log.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// The `/metrics` text of `runnel` once it contains `needle` (some series appear only after
/// librdkafka's first statistics).
pub fn eventually_text(runnel: &Runnel, needle: &str) -> String {
    wait_for(needle, 30, || Some(runnel.metrics_text()).filter(|text| text.contains(needle)))
}

/// A pipeline copying `${IN}` to `${OUT}` in group `${GROUP}`, tagging each message with
/// `${INSTANCE}`, written to `dir`.
pub fn copy_pipeline(dir: &Path) -> PathBuf {
    let path = dir.join("copy.toml");
    let text = format!(
        r#"[sources.in]
type = "kafka"
brokers = "${{KAFKA_BROKERS}}"
topics = ["${{IN}}"]
group_id = "${{GROUP}}"
revoke_timeout_ms = 5000
commit_interval_ms = ${{COMMIT_INTERVAL_MS:-1000}}
options = {{ "session.timeout.ms" = {SESSION_TIMEOUT}, "statistics.interval.ms" = 500 }}

[blocks.tag]
type = "map"
inputs = ["in"]
program = '. + {{instance: "${{INSTANCE:-one}}"}}'

[sinks.out]
type = "kafka"
inputs = ["tag"]
brokers = "${{KAFKA_BROKERS}}"
topic = "${{OUT}}"
compression = "lz4"
"#
    );
    std::fs::write(&path, text).expect("writes the pipeline");
    path
}

/// A small pseudo-random generator (xorshift), seeded from the clock; the seed is printed so a
/// failing run can be repeated.
pub struct Random(u64);

impl Random {
    pub fn new(what: &str) -> Self {
        let seed = std::env::var("RUNNEL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1);
        eprintln!("{what}: RUNNEL_TEST_SEED={seed}");
        Self(seed)
    }

    /// A number in `range`.
    pub fn between(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + self.0 % (range.end - range.start).max(1)
    }
}

/// The JSON payloads of `messages`.
pub fn payloads(messages: &[OwnedMessage]) -> Vec<serde_json::Value> {
    messages.iter().map(|m| serde_json::from_slice(m.payload().unwrap_or(b"null")).expect("JSON payload")).collect()
}

/// A message's headers as strings.
pub fn headers_of(message: &OwnedMessage) -> Vec<(String, String)> {
    message
        .headers()
        .map(|h| h.iter().map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())).collect())
        .unwrap_or_default()
}

/// The offsets `group` committed in `topic`, by partition (partitions without one are left out).
pub fn committed(brokers: &str, group: &str, topic: &str) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", group).create().expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partition_count(&consumer, topic) {
        list.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// Polls `check` every 100 ms until it holds, for state that only the broker shows.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A multi-threaded runtime for pipelines run in this process: the Kafka source's revoke wait
/// needs one.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Stops a running pipeline and checks that it stopped cleanly.
pub fn stop(runtime: &tokio::runtime::Runtime, running: RunningPipeline) {
    let token = running.shutdown_token();
    let done = runtime.spawn(running.wait());
    token.cancel();
    runtime.block_on(done).expect("joins").expect("the pipeline stops cleanly");
}

/// A `kafka` source's fields reading `topic` in `group`.
pub fn source_toml(brokers: &str, topic: &str, group: &str) -> String {
    format!(
        "type = \"kafka\"\nbrokers = \"{brokers}\"\ntopics = [\"{topic}\"]\ngroup_id = \"{group}\"\nretry_backoff_ms = 200\noptions = {{ \"session.timeout.ms\" = {SESSION_TIMEOUT}, \"statistics.interval.ms\" = 500 }}\n"
    )
}

/// The sum of counter `name` over the series with label `label`.
pub fn counter(running: &RunningPipeline, name: &str, label: (&str, &str)) -> f64 {
    running.metrics().total(name, Some(label))
}

/// The sum of gauge `name` over all its series.
pub fn gauge(running: &RunningPipeline, name: &str) -> f64 {
    running.metrics().total(name, None)
}
