//! The `lambda` block's own cost: 20,000 Kinesis records (one shard, 20 keys) through the block
//! in a pipeline, with a handler that answers `{}` at once, next to the same batching written by
//! hand (the records cut into events of 100 and handed to the handler in order). What the block
//! adds is reading the records, the lanes' bookkeeping, building each event (a copy of each
//! record's value, as Lambda's event is a copy) and sending the records on.
//!
//! Two groups: `lambda/factor1` (one lane) and `lambda/factor10` (ten lanes of a shard).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::{Criterion, Throughput};
use runnel::{Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Message, PipelineBuilder, RunContext, async_trait};
use runnel_blocks::lambda::{Handler, HandlerConfig, HandlerError, LambdaConfig};
use serde_json::{Value, json};

const RECORDS: usize = 20_000;
const BATCH: usize = 100;

/// A handler that answers at once.
#[derive(Debug)]
struct Done;

#[async_trait]
impl Handler for Done {
    async fn invoke(&self, event: Value) -> Result<Value, HandlerError> {
        std::hint::black_box(event);
        Ok(json!({}))
    }
}

fn records() -> Vec<Value> {
    (0..RECORDS)
        .map(|i| {
            let data =
                base64::engine::general_purpose::STANDARD.encode(format!(r#"{{"room":"room-{}","text":"see you at the gate","n":{i}}}"#, i % 20));
            let seq = format!("49590338271490256608559692538361571095921575989136{i:06}");
            json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": format!("room-{}", i % 20), "sequenceNumber": seq,
                            "data": data, "approximateArrivalTimestamp": 1_545_084_650.987},
                "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::000000000000:role/runnel",
                "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/chat",
            })
        })
        .collect()
}

/// Sends the records in batches of 128, as a source would.
#[derive(Debug, Clone)]
struct Source(Arc<Vec<Value>>);

#[async_trait]
impl BlockConfig for Source {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for Source {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        for chunk in self.0.chunks(128) {
            cx.output.send(chunk.iter().map(|v| Message::new(v.clone())).collect()).await?;
        }
        Ok(())
    }
}

/// Drops what it receives.
#[derive(Debug, Clone)]
struct Sink;

#[async_trait]
impl BlockConfig for Sink {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Sink))
    }
}

#[async_trait]
impl Block for Sink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            drop(batch);
        }
        Ok(())
    }
}

async fn through_the_block(values: &Arc<Vec<Value>>, factor: usize) -> Duration {
    let mut config: LambdaConfig =
        toml::from_str(&format!("batch_size = {BATCH}\nparallelization_factor = {factor}\nhandler = {{ type = \"map\", program = \".\" }}"))
            .expect("valid");
    config.handler = HandlerConfig::rust(Done);
    let pipeline = PipelineBuilder::new()
        .source("in", Source(values.clone()))
        .block("lambda", ["in"], config)
        .sink("out", ["lambda"], Sink)
        .build()
        .expect("valid pipeline");
    let started = Instant::now();
    pipeline.start().await.expect("starts").wait().await.expect("runs");
    started.elapsed()
}

/// The same work by hand: messages in, events of 100 copies, the handler, messages out.
async fn by_hand(values: &Arc<Vec<Value>>) -> Duration {
    let started = Instant::now();
    // A batch at a time, as a hand-written consumer streams them: the messages of a batch, the
    // event built from them, the handler, and the messages passed on (dropped here).
    for chunk in values.chunks(BATCH) {
        let messages: Vec<Message> = chunk.iter().map(|v| Message::new(v.clone())).collect();
        let event = json!({"Records": messages.iter().map(|m| m.value().clone()).collect::<Vec<_>>()});
        let _ = Done.invoke(event).await;
        drop(std::hint::black_box(messages));
    }
    started.elapsed()
}

pub(crate) fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let values = Arc::new(records());
    for factor in [1, 10] {
        let mut group = c.benchmark_group(format!("lambda/factor{factor}"));
        group.throughput(Throughput::Elements(RECORDS as u64));
        group.sample_size(10);
        group.bench_function("block", |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += through_the_block(&values, factor).await;
                    }
                    total
                })
            })
        });
        group.bench_function("by_hand", |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += by_hand(&values).await;
                    }
                    total
                })
            })
        });
        group.finish();
    }
}
