//! The running `kafka` source: reads batches from the consumer, tracks every message until it is
//! finished downstream, commits finished offsets, re-reads partitions after a failure, and on
//! shutdown waits for what is in flight before its last commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use runnel_engine::{
    AckTracker, Batch, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, CancellationToken, Component, LogLimiter, Message,
    Metadata, Origin, Output, Role, RunContext, Stream, async_trait,
};
use serde_json::Value;

use super::config::KafkaSourceConfig;
use super::context::{SourceContext, State};
use super::metrics::KafkaMetrics;
use crate::codec::Undecodable;

/// How often an idle source applies acknowledgements, stores offsets and resumes partitions (a
/// busy one does after every batch).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// How long a seek to re-read a failed message may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(5);

impl Component for KafkaSourceConfig {
    const TYPE: &'static str = "kafka";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str =
        "Reads JSON messages from Kafka topics in a consumer group; commits an offset once everything before it is finished.";
    const EXAMPLE: &'static str = "brokers = \"127.0.0.1:9092\"\ntopics = [\"chat\", \"^rooms-.*\"]\ngroup_id = \"runnel\"\nstart_from = \"earliest\"\noptions = { \"session.timeout.ms\" = 6000 }";
}

#[async_trait]
impl BlockConfig for KafkaSourceConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        // The consumer is created when the source runs: creating it starts librdkafka's threads.
        self.client_config().create_native_config().map_err(|e| BuildError::Invalid(e.to_string()))?;
        Ok(BuiltBlock::task(KafkaSource { config: self.clone(), metrics: KafkaMetrics::register(&cx.metrics, &cx.name) }))
    }
}

/// The running `kafka` source.
#[derive(Debug)]
pub struct KafkaSource {
    config: KafkaSourceConfig,
    metrics: KafkaMetrics,
}

#[async_trait]
impl Block for KafkaSource {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { config, metrics: kafka_metrics } = *self;
        let (tracker, acks) = cx.ack_tracker();
        let RunContext { name, mut output, shutdown, batch_size, readiness, .. } = cx;
        let revoke_timeout = Duration::from_millis(config.revoke_timeout_ms);
        let context = SourceContext::new(name.clone(), acks, kafka_metrics, revoke_timeout, readiness);
        let consumer: StreamConsumer<SourceContext> =
            config.client_config().create_with_context(context).map_err(|e| BlockError::other(format!("cannot create the Kafka consumer: {e}")))?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| BlockError::other(format!("cannot subscribe to {topics:?}: {e}")))?;
        tracing::info!(node = %name, ?topics, group = %config.group_id, "Kafka source subscribed");

        let mut reader = Reader {
            node: name.clone(),
            tracker,
            max: batch_size.get(),
            retry_backoff: Duration::from_millis(config.retry_backoff_ms),
            errors: LogLimiter::default(),
            topics: Vec::new(),
        };
        let result = reader.read(&consumer, &mut output, &shutdown).await;
        // Downstream drains what is queued once the output is gone; the acknowledgement channel
        // closes once the tracker and every message's token are gone.
        drop(output);
        drop(reader);
        finish(&consumer).await;
        tracing::info!(node = %name, "Kafka source stopped");
        result
    }
}

/// Turns consumed messages into batches and keeps the offsets moving.
struct Reader {
    node: Arc<str>,
    tracker: AckTracker,
    max: usize,
    retry_backoff: Duration,
    errors: LogLimiter,
    /// The stream of each topic read so far, shared by its messages.
    topics: Vec<Arc<Stream>>,
}

impl Reader {
    async fn read(&mut self, consumer: &StreamConsumer<SourceContext>, output: &mut Output, shutdown: &CancellationToken) -> Result<(), BlockError> {
        let mut stream = consumer.stream();
        let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {
                    self.housekeeping(consumer);
                    continue;
                }
                next = stream.next() => next,
            };
            let mut received = Vec::with_capacity(self.max);
            received.extend(first);
            while received.len() < self.max {
                match stream.next().now_or_never() {
                    Some(Some(next)) => received.push(next),
                    _ => break,
                }
            }
            // Errors come through the same stream (all brokers down, for one): only a message
            // says a broker was reached.
            if received.iter().any(Result::is_ok) {
                consumer.context().reached();
            }
            let (batch, failures) = self.decode(consumer.context(), received)?;
            output.send(batch).await?;
            output.fail(failures).await?;
            self.housekeeping(consumer);
        }
    }

    /// Messages (and bad payloads as failures), each tracked in its partition. Messages of a
    /// partition the source does not own, or that waits to be re-read, are skipped: they will be
    /// read again. The messages kept share one acknowledgement record, as a file's lines do.
    fn decode(
        &mut self,
        context: &SourceContext,
        received: Vec<KafkaResult<BorrowedMessage<'_>>>,
    ) -> Result<(Batch, Vec<(Message, String)>), BlockError> {
        let now = Instant::now();
        let mut kept = Vec::with_capacity(received.len());
        let mut ids = Vec::with_capacity(received.len());
        {
            let mut state = context.lock();
            let mut last: Option<(i32, usize)> = None;
            for result in received {
                let message = match result {
                    Ok(message) => message,
                    Err(error) => {
                        if let Some(suppressed) = self.errors.check(1) {
                            tracing::warn!(node = %self.node, %error, suppressed, "Kafka consumer error");
                        }
                        continue;
                    }
                };
                let slot = match last {
                    Some((partition, slot)) if partition == message.partition() && *state.offsets.partition(slot).topic == *message.topic() => slot,
                    _ => state.offsets.slot(message.topic(), message.partition()).map_err(BlockError::other)?,
                };
                last = Some((message.partition(), slot));
                if !readable(&state, slot) {
                    continue;
                }
                ids.push(state.offsets.track(slot, message.offset()));
                let from = self.stream_of(&state.offsets.partition(slot).topic);
                kept.push((message, from));
            }
        }
        let mut batch = Vec::with_capacity(kept.len());
        let mut failures = Vec::new();
        let tokens = self.tracker.tokens_at(ids, now);
        for ((message, from), acks) in kept.into_iter().zip(tokens) {
            match Self::convert(&message, from) {
                Ok(mut decoded) => {
                    decoded.acks = acks;
                    batch.push(decoded);
                }
                Err((mut raw, error)) => {
                    raw.acks = acks;
                    failures.push((raw, error));
                }
            }
        }
        Ok((batch, failures))
    }

    /// The stream of `topic`.
    fn stream_of(&mut self, topic: &Arc<str>) -> Arc<Stream> {
        if let Some(known) = self.topics.iter().find(|known| known.name.as_ref() == Some(topic)) {
            return Arc::clone(known);
        }
        let stream = Stream::new(self.node.clone(), Some(topic.clone()));
        self.topics.push(Arc::clone(&stream));
        stream
    }

    /// `message` decoded, or its raw payload and why it is not JSON. An empty payload (a
    /// tombstone) is `null`.
    fn convert(message: &BorrowedMessage<'_>, from: Arc<Stream>) -> Result<Message, (Message, String)> {
        let payload = message.payload();
        let offset = message.offset();
        let headers = message
            .headers()
            .map(|headers| Arc::new(headers.iter().map(|h| (h.key.to_owned(), h.value.map(Bytes::copy_from_slice).unwrap_or_default())).collect()));
        let meta = Metadata {
            key: message.key().map(Bytes::copy_from_slice),
            timestamp: message.timestamp().to_millis(),
            headers,
            origin: Origin { from: Some(from), partition: Some(message.partition()), offset: u64::try_from(offset).ok() },
            attributes: None,
            size: u32::try_from(payload.map_or(0, <[u8]>::len)).unwrap_or(u32::MAX),
            exact_numbers: None,
        };
        let Some(bytes) = payload else { return Ok(Message::with_meta(Value::Null, meta)) };
        crate::codec::decode(bytes, meta).map_err(|error| {
            let Undecodable { message: raw, reason } = *error;
            (raw, format!("{} partition {} offset {offset}: invalid JSON: {reason}", message.topic(), message.partition()))
        })
    }

    /// Applies acknowledgements, rewinds partitions whose messages failed, resumes the ones whose
    /// backoff is over and stores the offsets that moved, for librdkafka's next periodic commit.
    fn housekeeping(&self, consumer: &StreamConsumer<SourceContext>) {
        let context = consumer.context();
        let now = Instant::now();
        let (rewinds, resumes, commits) = {
            let mut state = context.lock();
            state.drain_acks();
            let rewinds = state.offsets.take_rewinds();
            for rewind in &rewinds {
                if let Some(slot) = state.offsets.find(&rewind.topic, rewind.partition) {
                    state.paused.insert(slot, now + self.retry_backoff);
                }
            }
            let due: Vec<usize> = state.paused.iter().filter(|(_, at)| **at <= now).map(|(slot, _)| *slot).collect();
            let mut resumes = TopicPartitionList::new();
            for slot in due {
                state.paused.remove(&slot);
                let partition = state.offsets.partition(slot);
                resumes.add_partition(&partition.topic, partition.partition);
            }
            let commits = state.offsets.take_commits(None);
            (rewinds, resumes, commits)
        };
        for rewind in rewinds {
            context.metrics().rewinds().inc();
            let mut list = TopicPartitionList::new();
            list.add_partition(&rewind.topic, rewind.partition);
            let paused = consumer.pause(&list);
            let sought = consumer.seek(&rewind.topic, rewind.partition, Offset::Offset(rewind.offset), SEEK_TIMEOUT);
            match paused.and(sought) {
                Ok(()) => tracing::warn!(
                    node = %self.node, topic = %rewind.topic, partition = rewind.partition, offset = rewind.offset,
                    backoff = ?self.retry_backoff, "a message failed downstream; its partition will be read again from it"
                ),
                Err(error) => tracing::error!(
                    node = %self.node, topic = %rewind.topic, partition = rewind.partition, offset = rewind.offset, %error,
                    "cannot rewind the partition; its offset stays uncommitted, so a restart reads it again"
                ),
            }
        }
        if resumes.count() > 0 {
            if let Err(error) = consumer.resume(&resumes) {
                tracing::error!(node = %self.node, %error, "cannot resume partitions");
            }
        }
        context.store(consumer, &commits);
    }
}

/// Whether messages of `slot` may go downstream now.
fn readable(state: &State, slot: usize) -> bool {
    state.offsets.partition(slot).is_assigned() && !state.paused.contains_key(&slot)
}

/// After the last read: stop fetching, wait for everything in flight to finish, commit, leave.
async fn finish(consumer: &StreamConsumer<SourceContext>) {
    let context = consumer.context();
    if let Ok(assignment) = consumer.assignment() {
        let _ = consumer.pause(&assignment);
    }
    let acks = context.lock().acks.take();
    if let Some(mut acks) = acks {
        while let Some(ack) = acks.recv().await {
            context.lock().offsets.ack(ack.id, ack.status);
        }
    }
    let commits = context.lock().offsets.take_commits(None);
    context.commit_now(consumer, &commits);
}
