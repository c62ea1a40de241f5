//! Rebalances: revoked partitions wait for their messages in flight, commit them, and only then go
//! to the new member, which reads none of them again; past `revoke_timeout_ms` nothing unfinished
//! is committed, so the new member reads the unfinished messages again (nothing is lost).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _};
use runnel::{PipelineBuilder, RunningPipeline};
use runnel_connectors::KafkaSourceConfig;
use runnel_engine::{AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, RunContext, ack_batch, async_trait};
use serde_json::json;
use tokio::sync::Notify;

use super::{Record, SESSION_TIMEOUT, brokers, committed, counter, create_topic, eventually, gauge, produce, runtime, source_toml, stop, unique};

/// A sink that holds every message until its gate opens, then acknowledges them as delivered
/// (and every later one at once).
#[derive(Debug, Clone, Default)]
struct GatedSink {
    gate: Arc<Notify>,
    held: Arc<AtomicUsize>,
}

#[async_trait]
impl BlockConfig for GatedSink {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }
    async fn build(&self, _: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for GatedSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let mut held = Vec::new();
        let mut open = false;
        loop {
            tokio::select! {
                batch = cx.input.next() => match batch {
                    Some(batch) if open => ack_batch(batch, AckStatus::Delivered),
                    Some(batch) => {
                        held.extend(batch);
                        self.held.store(held.len(), Ordering::SeqCst);
                    }
                    None => break,
                },
                () = self.gate.notified(), if !open => {
                    open = true;
                    ack_batch(std::mem::take(&mut held), AckStatus::Delivered);
                }
            }
        }
        ack_batch(held, AckStatus::Delivered);
        Ok(())
    }
}

/// A second group member: a plain consumer in a thread, recording its assignment and messages.
struct Member {
    stop: Arc<AtomicBool>,
    assigned: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u64>>>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn join(brokers: &str, topic: &str, group: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("session.timeout.ms", SESSION_TIMEOUT)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let (stop, assigned, received) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let thread = {
            let (stop, assigned, received) = (stop.clone(), assigned.clone(), received.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                        let value: serde_json::Value = serde_json::from_slice(message.payload().unwrap_or(b"null")).expect("JSON");
                        received.lock().expect("lock").push(value["n"].as_u64().expect("n"));
                    }
                    assigned.store(consumer.assignment().map_or(0, |a| a.count()), Ordering::SeqCst);
                }
            })
        };
        Self { stop, assigned, received, thread: Some(thread) }
    }

    fn received(&self) -> Vec<u64> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A pipeline `kafka` → [`GatedSink`] reading 10 messages (2 partitions) that it holds in flight.
fn start_holding(runtime: &tokio::runtime::Runtime, brokers: &str, revoke_timeout_ms: u64) -> (RunningPipeline, GatedSink, String, String) {
    let (topic, group) = (unique("revoke"), unique("revoke"));
    create_topic(brokers, &topic, 2);
    produce(brokers, &topic, (0..10).map(|n| Record { partition: Some(n % 2), ..Record::json(json!({"n": n})) }));
    let fields = format!("{}revoke_timeout_ms = {revoke_timeout_ms}\n", source_toml(brokers, &topic, &group).replace("type = \"kafka\"\n", ""));
    let source: KafkaSourceConfig = toml::from_str(&fields).expect("config");
    let sink = GatedSink::default();
    let pipeline = PipelineBuilder::new().source("in", source).sink("out", ["in"], sink.clone()).build().expect("valid");
    let running = runtime.block_on(pipeline.start()).expect("starts");
    eventually("all 10 messages are in flight", Duration::from_secs(60), || sink.held.load(Ordering::SeqCst) == 10);
    assert!(committed(brokers, &group, &topic).is_empty(), "nothing is finished, nothing is committed");
    eventually("the lag counts the unfinished messages", Duration::from_secs(10), || gauge(&running, "runnel_kafka_consumer_lag_messages") == 10.0);
    (running, sink, topic, group)
}

#[test]
fn a_revoked_partition_waits_for_its_messages_and_commits_them_before_it_goes() {
    let Some(brokers) = brokers() else { return };
    let runtime = runtime();
    let (running, sink, topic, group) = start_holding(&runtime, &brokers, 30_000);
    let member = Member::join(&brokers, &topic, &group);
    eventually("the source is asked to give partitions up", Duration::from_secs(60), || {
        counter(&running, "runnel_kafka_rebalances_total", ("event", "revoke")) >= 1.0
    });
    assert_eq!(member.assigned.load(Ordering::SeqCst), 0, "the new member waits while the messages are in flight");
    sink.gate.notify_one();
    eventually("the new member gets a partition", Duration::from_secs(60), || member.assigned.load(Ordering::SeqCst) > 0);
    assert_eq!(committed(&brokers, &group, &topic).values().sum::<i64>(), 10, "committed during the revocation");
    eventually("the lag of the partition kept is 0", Duration::from_secs(10), || gauge(&running, "runnel_kafka_consumer_lag_messages") == 0.0);
    // Give the new member time to read anything it would wrongly read again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(member.received(), Vec::<u64>::new(), "the new member reads nothing that was finished");
    drop(member);
    stop(&runtime, running);
}

#[test]
fn past_the_revoke_timeout_nothing_unfinished_is_committed_and_the_new_member_reads_it() {
    let Some(brokers) = brokers() else { return };
    let runtime = runtime();
    let (running, sink, topic, group) = start_holding(&runtime, &brokers, 500);
    let member = Member::join(&brokers, &topic, &group);
    eventually("the new member gets a partition", Duration::from_secs(60), || member.assigned.load(Ordering::SeqCst) > 0);
    eventually("the new member reads its partition's unfinished messages", Duration::from_secs(30), || member.received().len() == 5);
    assert!(committed(&brokers, &group, &topic).is_empty(), "no unfinished offset was committed");
    let mut received = member.received();
    received.sort_unstable();
    assert!(received == [0, 2, 4, 6, 8] || received == [1, 3, 5, 7, 9], "one partition's messages: {received:?}");
    // The late acknowledgements of the revoked messages must not move the commit point either.
    sink.gate.notify_one();
    drop(member);
    stop(&runtime, running);
}
