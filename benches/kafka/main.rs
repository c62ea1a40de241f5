//! Kafka throughput: topic → `kafka` source → `map` → `kafka` sink → topic, through the engine
//! with its default Kafka settings, end-to-end acknowledgements and offset commits, next to a
//! tuned single-threaded rdkafka consume → reshape → produce loop ([`baseline`]) that commits
//! what it delivered too, measured in the same run, on the same broker.
//!
//! `cargo bench --bench kafka` (200,000 messages; `RUNNEL_BENCH_MESSAGES` overrides) against the
//! broker at `RUNNEL_KAFKA_BROKERS` (default `127.0.0.1:19092`, which `scripts/test.sh` starts).
//! Both sides are timed from their first consumed message to their last delivered one, so the
//! consumer group's join delay is left out. Three rounds alternate the two sides; each round
//! prints messages per second and the CPU time the process spent, and the best round of each
//! side gives the ratio.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod baseline;

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use runnel::{Pipeline, RunningPipeline};
use serde_json::json;

const PARTITIONS: i32 = 4;
const PROGRAM: &str = "{room, user, text, len: (.text | length)}";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{nanos:x}")
}

fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    for result in futures::executor::block_on(admin.create_topics([&new], &AdminOptions::new())).expect("create_topics") {
        result.unwrap_or_else(|(name, code)| panic!("cannot create topic {name}: {code}"));
    }
}

/// Writes `messages` chat events of about 180 bytes, keyed by user.
fn fill(brokers: &str, topic: &str, messages: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "20").create().expect("producer");
    let texts = ["see you at the gate at noon", "did anyone try the new build?", "lunch?", "the deploy is green, merging now"];
    for n in 0..messages {
        let (room, user) = (format!("room-{}", n % 8), format!("user-{}", n % 50));
        let payload =
            json!({"id": n, "kind": "chat", "room": room, "user": user, "text": texts[n % texts.len()], "ts": 1_763_798_400_000_u64 + n as u64})
                .to_string();
        let mut record = BaseRecord::to(topic).payload(&payload).key(&user);
        while let Err((_, back)) = producer.send(record) {
            producer.poll(Duration::from_millis(5));
            record = back;
        }
    }
    producer.flush(Duration::from_secs(120)).expect("input written");
}

fn delivered(running: &RunningPipeline) -> u64 {
    running.metrics().total(runnel_engine::metric_names::ACKS, Some(("status", "delivered"))) as u64
}

/// The engine copies `messages` from `input` to `output`; returns the time from its first
/// message read to its last acknowledged as delivered.
fn engine_run(brokers: &str, input: &str, output: &str, messages: usize) -> Duration {
    let group = unique("bench-engine");
    let text = format!(
        r#"
[sources.in]
type = "kafka"
brokers = "{brokers}"
topics = ["{input}"]
group_id = "{group}"
options = {{ "session.timeout.ms" = 6000 }}

[blocks.shape]
type = "map"
inputs = ["in"]
program = '{PROGRAM}'

[sinks.out]
type = "kafka"
inputs = ["shape"]
brokers = "{brokers}"
topic = "{output}"
compression = "lz4"
"#
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let pipeline = Pipeline::from_toml(&text, &runnel::registry()).expect("valid pipeline");
    let running = runtime.block_on(pipeline.start()).expect("starts");
    while running.metrics().sent_total("in") == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    // Reading one counter is cheap; summing the delivered acknowledgements gathers every metric,
    // so it is polled only for the last deliveries, once the sink has received every message.
    while running.metrics().received_total("out") < messages as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    while delivered(&running) < messages as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = start.elapsed();
    let stop = running.shutdown_token();
    let done = runtime.spawn(running.wait());
    stop.cancel();
    runtime.block_on(done).expect("joins").expect("stops cleanly");
    took
}

/// CPU time this process has used so far (every thread, user and system), where Linux says.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // utime and stime are the 12th and 13th fields after the command name, in 1/100 s.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `side` and returns its time and the CPU time the process spent meanwhile.
fn measured(side: impl FnOnce() -> Duration) -> (Duration, Option<f64>) {
    let before = cpu_seconds();
    let took = side();
    (took, cpu_seconds().zip(before).map(|(after, before)| after - before))
}

fn cpu_text(cpu: Option<f64>) -> String {
    cpu.map_or_else(String::new, |seconds| format!(" ({seconds:.2} s CPU)"))
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs this too; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("kafka: run with `cargo bench --bench kafka`");
        return;
    }
    let brokers = std::env::var("RUNNEL_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".to_owned());
    let messages: usize = std::env::var("RUNNEL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let input = unique("bench-in");
    create_topic(&brokers, &input);
    let filled = Instant::now();
    fill(&brokers, &input, messages);
    println!("input: {messages} chat events in {PARTITIONS} partitions of `{input}` at {brokers} ({:.1} s to write)", filled.elapsed().as_secs_f64());

    let mut results = Vec::new();
    for round in 0..3 {
        let (hand_out, engine_out) = (unique("bench-hand"), unique("bench-engine"));
        create_topic(&brokers, &hand_out);
        create_topic(&brokers, &engine_out);
        let (hand, hand_cpu) = measured(|| baseline::run(&brokers, &input, &hand_out, &unique("bench-hand"), messages));
        let (engine, engine_cpu) = measured(|| engine_run(&brokers, &input, &engine_out, messages));
        println!(
            "round {round}: tuned rdkafka loop {:>9.0} msg/s{} | runnel kafka → map → kafka {:>9.0} msg/s{}",
            rate(messages, hand),
            cpu_text(hand_cpu),
            rate(messages, engine),
            cpu_text(engine_cpu)
        );
        results.push((hand, engine));
    }
    let hand = results.iter().map(|r| r.0).min().expect("rounds");
    let engine = results.iter().map(|r| r.1).min().expect("rounds");
    println!("best of {}:", results.len());
    println!("  tuned single-threaded rdkafka loop, batch-committed : {:>9.0} msg/s", rate(messages, hand));
    println!(
        "  runnel with default settings, acknowledged         : {:>9.0} msg/s  ratio {:.2}",
        rate(messages, engine),
        hand.as_secs_f64() / engine.as_secs_f64()
    );
}
