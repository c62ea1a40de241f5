//! The running `kafka` sink: hands each message to librdkafka's producer and acknowledges it from
//! its delivery report. librdkafka retries within `delivery_timeout_ms`; a message still failing
//! then goes to the sink's `errors` port (or its `on_error` policy).
//!
//! Delivery reports arrive on the producer's polling thread, which acknowledges delivered messages
//! directly and hands failed ones back to the sink's task. A semaphore of `max_in_flight` permits
//! bounds what is in flight: the sink stops reading its input while none is left.
//!
//! A message's value is freed as soon as it is encoded, on the sink's task, while it is still in
//! the cache: until its delivery report the sink keeps the message without it (its metadata and
//! acknowledgements). A message that cannot be delivered gets its value back from the payload
//! librdkafka returns, which is the value's JSON text.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use runnel_engine::{
    AckStatus, Batch, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Output, Role, RunContext, async_trait,
};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

use super::config::KafkaSinkConfig;
use super::health::ClientHealth;
use super::metrics::KafkaMetrics;
use rdkafka::config::RDKafkaLogLevel;

/// How long the sink waits before handing a message again to a producer whose queue was full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

impl Component for KafkaSinkConfig {
    const TYPE: &'static str = "kafka";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str =
        "Writes JSON messages to Kafka (topic and key fixed, from a field or a jq expression); acknowledges on delivery reports.";
    const EXAMPLE: &'static str =
        "brokers = \"127.0.0.1:9092\"\ntopic = { jq = '\"room-\" + .room' }\nkey = { field = \"user\" }\ncompression = \"lz4\"";
}

#[async_trait]
impl BlockConfig for KafkaSinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = self.problems();
        if u32::try_from(self.max_in_flight).is_err() {
            problems.push(format!("`max_in_flight` must be at most {}", u32::MAX));
        }
        problems
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        // The producer is created when the sink runs: creating it starts librdkafka's threads.
        self.client_config().create_native_config().map_err(|e| BuildError::Invalid(e.to_string()))?;
        let in_flight = KafkaMetrics::register(&cx.metrics, &cx.name).in_flight();
        Ok(BuiltBlock::task(KafkaSink { config: self.clone(), in_flight }))
    }
}

/// The running `kafka` sink.
#[derive(Debug)]
pub struct KafkaSink {
    config: KafkaSinkConfig,
    in_flight: prometheus::IntGauge,
}

/// The producer's context: turns delivery reports into acknowledgements.
struct SinkContext {
    failed: mpsc::UnboundedSender<(Message, String)>,
    permits: Arc<Semaphore>,
    health: ClientHealth,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.health.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(&error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        self.health.stats(&statistics);
    }
}

impl ProducerContext for SinkContext {
    /// The message, its value already freed ([`Writer::send`]).
    type DeliveryOpaque = Box<Message>;

    fn delivery(&self, result: &DeliveryResult<'_>, mut message: Box<Message>) {
        match result {
            Ok(_) => {
                self.health.reached();
                message.ack(AckStatus::Delivered);
                self.permits.add_permits(1);
            }
            Err((error, record)) => {
                let error = format!("cannot deliver to topic `{}`: {error}", record.topic());
                if let Some(payload) = record.payload() {
                    restore_value(&mut message, payload);
                }
                // If the sink's task is gone the message drops unresolved: abandoned, never lost.
                let _ = self.failed.send((*message, error));
            }
        }
    }
}

#[async_trait]
impl Block for KafkaSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let max = self.config.max_in_flight;
        let permits = Arc::new(Semaphore::new(max));
        let (failed_tx, failed) = mpsc::unbounded_channel();
        let health = ClientHealth::new(cx.name.clone(), cx.readiness.clone());
        let context = SinkContext { failed: failed_tx, permits: permits.clone(), health };
        let producer: ThreadedProducer<SinkContext> = self
            .config
            .client_config()
            .create_with_context(context)
            .map_err(|e| BlockError::other(format!("cannot create the Kafka producer: {e}")))?;
        let in_flight = self.in_flight;
        let mut writer = Writer { config: self.config, producer, permits, failed, topic: String::new(), key: Vec::new(), payload: Vec::new() };
        loop {
            let event = tokio::select! {
                biased;
                Some(first) = writer.failed.recv() => Event::Failed(first),
                batch = cx.input.next() => Event::Input(batch),
            };
            match event {
                Event::Failed(first) => writer.report_failures(first, &mut cx.output).await?,
                Event::Input(Some(batch)) => {
                    let timer = cx.metrics.batch_duration.start_timer();
                    writer.produce(batch, &mut cx.output).await?;
                    timer.observe_duration();
                }
                Event::Input(None) => break,
            }
            in_flight.set(i64::try_from(max - writer.permits.available_permits()).unwrap_or(i64::MAX));
        }
        writer.drain(max, &mut cx.output).await?;
        in_flight.set(0);
        Ok(())
    }
}

enum Event {
    Failed((Message, String)),
    Input(Option<Batch>),
}

/// The sink's side of the producer.
struct Writer {
    config: KafkaSinkConfig,
    producer: ThreadedProducer<SinkContext>,
    permits: Arc<Semaphore>,
    failed: mpsc::UnboundedReceiver<(Message, String)>,
    /// The current message's topic, key and JSON, in buffers reused for every message: they let
    /// the message's value go before the producer is called, and librdkafka copies them.
    topic: String,
    key: Vec<u8>,
    payload: Vec<u8>,
}

impl Writer {
    async fn produce(&mut self, batch: Batch, output: &mut Output) -> Result<(), BlockError> {
        let mut failures = Vec::new();
        for message in batch {
            self.reserve(output).await?;
            if let Err(failure) = self.send(message).await {
                self.permits.add_permits(1);
                failures.push(failure);
            }
        }
        output.fail(failures).await
    }

    /// Takes one in-flight permit, handling failed deliveries while none is free.
    async fn reserve(&mut self, output: &mut Output) -> Result<(), BlockError> {
        loop {
            if let Ok(permit) = self.permits.try_acquire() {
                permit.forget();
                return Ok(());
            }
            let failed = tokio::select! {
                permit = self.permits.acquire() => {
                    permit.map_err(BlockError::other)?.forget();
                    return Ok(());
                }
                Some(first) = self.failed.recv() => first,
            };
            self.report_failures(failed, output).await?;
        }
    }

    /// Hands `message` to the producer; the delivery report acknowledges it later. The message's
    /// value is freed here, once encoded.
    async fn send(&mut self, mut message: Message) -> Result<(), (Message, String)> {
        let has_key = match self.encode(&message) {
            Ok(has_key) => has_key,
            Err(error) => return Err((message, error)),
        };
        let headers = if self.config.headers { message.meta().headers.as_deref().map(|h| to_headers(h)) } else { None };
        let timestamp = message.meta().timestamp;
        message.set_value(Value::Null);
        let mut message = Box::new(message);
        loop {
            let mut record = BaseRecord::<[u8], [u8], Box<Message>>::with_opaque_to(&self.topic, message).payload(&self.payload);
            if has_key {
                record = record.key(&self.key[..]);
            }
            if let Some(headers) = &headers {
                record = record.headers(headers.clone());
            }
            if let Some(timestamp) = timestamp {
                record = record.timestamp(timestamp);
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                    message = record.delivery_opaque;
                    tokio::time::sleep(QUEUE_FULL_WAIT).await;
                }
                Err((error, record)) => {
                    let mut message = *record.delivery_opaque;
                    restore_value(&mut message, &self.payload);
                    return Err((message, format!("cannot produce to topic `{}`: {error}", self.topic)));
                }
            }
        }
    }

    /// Puts the topic, key and JSON of `message` in the writer's buffers; returns whether the
    /// message has a key.
    fn encode(&mut self, message: &Message) -> Result<bool, String> {
        let value = message.value();
        match self.config.topic.resolve(value) {
            Ok(Some(topic)) => {
                self.topic.clear();
                self.topic.push_str(&topic);
            }
            Ok(None) => return Err("the message has no value for the topic".to_owned()),
            Err(error) => return Err(format!("topic: {error}")),
        }
        self.key.clear();
        let has_key = match &self.config.key {
            Some(from) => from.resolve(value).map_err(|error| format!("key: {error}"))?.map(|key| self.key.extend_from_slice(key.as_bytes())),
            None => message.meta().key.as_deref().map(|key| self.key.extend_from_slice(key)),
        }
        .is_some();
        self.payload.clear();
        crate::codec::encode(message, &mut self.payload).map_err(|error| format!("cannot encode the message: {error}"))?;
        Ok(has_key)
    }

    /// Sends failed deliveries (this one and any other already reported) to the errors port and
    /// frees their permits.
    async fn report_failures(&mut self, first: (Message, String), output: &mut Output) -> Result<(), BlockError> {
        let mut failures = vec![first];
        while let Ok(more) = self.failed.try_recv() {
            failures.push(more);
        }
        let count = failures.len();
        output.fail(failures).await?;
        self.permits.add_permits(count);
        Ok(())
    }

    /// Waits for the delivery report of every message in flight.
    async fn drain(&mut self, max: usize, output: &mut Output) -> Result<(), BlockError> {
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        loop {
            let failed = tokio::select! {
                permits = self.permits.acquire_many(all) => {
                    permits.map_err(BlockError::other)?.forget();
                    return Ok(());
                }
                Some(first) = self.failed.recv() => first,
            };
            self.report_failures(failed, output).await?;
        }
    }
}

fn to_headers(headers: &[(String, Bytes)]) -> OwnedHeaders {
    headers.iter().fold(OwnedHeaders::new_with_capacity(headers.len()), |all, (key, value)| all.insert(Header { key, value: Some(value.as_ref()) }))
}

/// Gives `message` back the value the sink freed once it was encoded, from the `payload` it was
/// encoded to, for its error record (the payload as text, should it not parse).
fn restore_value(message: &mut Message, payload: &[u8]) {
    message.set_value(serde_json::from_slice(payload).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned())));
}
