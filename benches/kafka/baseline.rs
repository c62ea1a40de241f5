//! The hand-written loop the engine is compared with, tuned as an rdkafka expert would write it
//! on one thread: a `BaseConsumer` and a `BaseProducer` polled by the same loop, with no runtime,
//! channel or task in between.
//!
//! Each round polls up to [`BATCH`] messages, parses each one into a `serde_json::Value` (the
//! same generic value the engine works on), reshapes it as the engine's `map` program does,
//! serialises it and produces it with its key and timestamp. Delivery reports are counted per
//! polled batch; once every batch before it is delivered too, a batch's offsets are stored, and
//! the stored offsets are committed asynchronously every [`COMMIT_INTERVAL`]: the same
//! at-least-once guarantee the engine gives, acknowledged a batch at a time. The clients use
//! large fetches and let the producer fill large batches ([`CONSUMER_OPTIONS`],
//! [`PRODUCER_OPTIONS`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, DeliveryResult};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use serde_json::{Value, json};

/// Messages polled, reshaped and produced before the loop serves delivery reports.
const BATCH: usize = 1024;
/// How often the stored offsets are committed.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Large fetches and a deep prefetch queue, so a poll seldom waits for the network.
const CONSUMER_OPTIONS: &[(&str, &str)] =
    &[("max.partition.fetch.bytes", "16777216"), ("fetch.max.bytes", "67108864"), ("queued.min.messages", "1000000")];
/// Batches of up to 10,000 messages, filled for at most 5 ms; lz4 and idempotence as the engine's
/// sink in the bench.
const PRODUCER_OPTIONS: &[(&str, &str)] =
    &[("linger.ms", "5"), ("batch.num.messages", "10000"), ("compression.type", "lz4"), ("enable.idempotence", "true")];

/// The engine's `map` program, by hand: `{room, user, text, len: (.text | length)}`.
pub(crate) fn shape(value: &Value) -> Value {
    let len = value["text"].as_str().map_or(0, |t| t.chars().count());
    json!({"room": value["room"], "user": value["user"], "text": value["text"], "len": len})
}

/// Delivery reports still awaited, per polled batch, oldest first.
#[derive(Debug, Default)]
struct Tally {
    /// The id of the batch at the front of `left`.
    front: usize,
    /// Messages not yet delivered, per batch.
    left: VecDeque<usize>,
    delivered: usize,
    failed: usize,
}

/// The producer's context: counts each delivery report against its batch. The reports are
/// served by `BaseProducer::poll` on the loop's own thread, so the mutex is never contended.
#[derive(Debug, Default)]
struct Deliveries(Mutex<Tally>);

impl Deliveries {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: usize) {
        let mut tally = self.tally();
        if result.is_err() {
            tally.failed += 1;
            return;
        }
        tally.delivered += 1;
        let at = batch - tally.front;
        tally.left[at] -= 1;
    }
}

/// The next offset to commit in each partition a batch read from.
type BatchOffsets = HashMap<i32, i64>;

/// Copies `messages` messages from `input` to `output`; returns the time from the first message
/// consumed to the last one delivered.
pub(crate) fn run(brokers: &str, input: &str, output: &str, group: &str, messages: usize) -> Duration {
    let mut consumer_config = ClientConfig::new();
    consumer_config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    for (key, value) in CONSUMER_OPTIONS {
        consumer_config.set(*key, *value);
    }
    let consumer: BaseConsumer = consumer_config.create().expect("consumer");
    consumer.subscribe(&[input]).expect("subscribe");
    let mut producer_config = ClientConfig::new();
    producer_config.set("bootstrap.servers", brokers);
    for (key, value) in PRODUCER_OPTIONS {
        producer_config.set(*key, *value);
    }
    let producer: BaseProducer<Deliveries> = producer_config.create_with_context(Deliveries::default()).expect("producer");

    let mut copier = Copier { input, output, producer, payload: Vec::new(), batches: VecDeque::new() };
    let mut start = None;
    let mut copied = 0;
    let mut last_commit = Instant::now();
    loop {
        if copied < messages {
            let wait = if copier.batches.is_empty() { Duration::from_millis(100) } else { Duration::ZERO };
            let mut next = consumer.poll(wait);
            if next.is_some() {
                copier.open_batch();
            }
            while let Some(polled) = next {
                let message = polled.expect("no consumer error");
                start.get_or_insert_with(Instant::now);
                copier.copy(&message);
                copied += 1;
                if copied == messages || copier.batch_len() == BATCH {
                    break;
                }
                next = consumer.poll(Duration::ZERO);
            }
            copier.producer.poll(Duration::ZERO);
        } else {
            copier.producer.poll(Duration::from_millis(1));
        }
        let finished = copier.finished();
        if finished.count() > 0 {
            consumer.store_offsets(&finished).expect("offsets stored");
        }
        let tally = copier.producer.context().tally();
        assert_eq!(tally.failed, 0, "a message was not delivered");
        if tally.delivered == messages {
            break;
        }
        drop(tally);
        if last_commit.elapsed() >= COMMIT_INTERVAL {
            // A failed commit is retried by the next one, which includes its offsets.
            let _ = consumer.commit_consumer_state(CommitMode::Async);
            last_commit = Instant::now();
        }
    }
    let took = start.map_or(Duration::ZERO, |s| s.elapsed());
    // The last batch's offsets were stored in the round that saw it delivered, after the last
    // periodic commit, so there is always something left to commit.
    consumer.commit_consumer_state(CommitMode::Sync).expect("last commit");
    took
}

/// The loop's producing side.
struct Copier<'a> {
    input: &'a str,
    output: &'a str,
    producer: BaseProducer<Deliveries>,
    /// Reused for every message's JSON; librdkafka copies it.
    payload: Vec<u8>,
    /// The offsets each batch read, for the batches not yet stored, in the order of
    /// [`Tally::left`]; the last one is the batch being polled.
    batches: VecDeque<(usize, BatchOffsets)>,
}

impl Copier<'_> {
    /// Starts counting a new batch.
    fn open_batch(&mut self) {
        self.batches.push_back((0, BatchOffsets::new()));
        self.producer.context().tally().left.push_back(0);
    }

    /// Messages in the batch being polled.
    fn batch_len(&self) -> usize {
        self.batches.back().map_or(0, |(len, _)| *len)
    }

    /// Reshapes `message` and produces the result, counted in the batch being polled.
    fn copy(&mut self, message: &BorrowedMessage<'_>) {
        let value: Value = serde_json::from_slice(message.payload().unwrap_or(b"null")).expect("JSON");
        self.payload.clear();
        serde_json::to_writer(&mut self.payload, &shape(&value)).expect("encodes");
        let batch = {
            // Counted before it is sent: a delivery report can arrive while `send` waits.
            let mut tally = self.producer.context().tally();
            *tally.left.back_mut().expect("an open batch") += 1;
            tally.front + tally.left.len() - 1
        };
        let (len, offsets) = self.batches.back_mut().expect("an open batch");
        *len += 1;
        offsets.insert(message.partition(), message.offset() + 1);
        let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(self.output, batch).payload(&self.payload);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(timestamp) = message.timestamp().to_millis() {
            record = record.timestamp(timestamp);
        }
        while let Err((error, back)) = self.producer.send(record) {
            assert!(matches!(error, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)), "{error}");
            self.producer.poll(Duration::from_millis(1));
            record = back;
        }
    }

    /// The offsets to store: those of the delivered batches with no undelivered batch before
    /// them. Only called between batches, so the batch being polled is never taken half read.
    fn finished(&mut self) -> TopicPartitionList {
        let mut merged = BatchOffsets::new();
        let mut tally = self.producer.context().tally();
        while tally.left.front() == Some(&0) {
            tally.left.pop_front();
            tally.front += 1;
            if let Some((_, offsets)) = self.batches.pop_front() {
                merged.extend(offsets);
            }
        }
        drop(tally);
        let mut list = TopicPartitionList::with_capacity(merged.len());
        for (partition, offset) in merged {
            list.add_partition_offset(self.input, partition, Offset::Offset(offset)).expect("absolute offset");
        }
        list
    }
}
