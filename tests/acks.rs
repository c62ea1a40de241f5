//! End-to-end acknowledgements: every source message is acknowledged exactly once, after all
//! its copies and derivatives are done, with the worst outcome.

use std::collections::HashMap;

use runnel::{Pipeline, PipelineBuilder};
use runnel_connectors::{MemorySinkConfig, MemorySourceConfig};
use runnel_engine::{Ack, AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, RunContext, async_trait};
use serde_json::json;

/// A sink that fails every message whose `n` is a multiple of 7.
#[derive(Debug, Clone)]
struct PickySink;

#[async_trait]
impl BlockConfig for PickySink {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }
    async fn build(&self, _: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(PickySink))
    }
}

#[async_trait]
impl Block for PickySink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            for message in batch {
                let fails = message.value()["n"].as_i64().is_some_and(|n| n % 7 == 0);
                message.ack(if fails { AckStatus::Failed } else { AckStatus::Delivered });
            }
        }
        Ok(())
    }
}

fn filter(condition: &str) -> Box<dyn BlockConfig> {
    let entry = runnel::registry().get(runnel_engine::Role::Transform, "filter").cloned().expect("filter exists");
    entry.parse(toml::Value::Table(toml::toml! { condition = condition })).expect("valid")
}

#[tokio::test]
async fn every_message_is_acknowledged_once_through_fan_out_and_filters() {
    let (source, input) = MemorySourceConfig::channel();
    let (all, all_out) = MemorySinkConfig::channel();
    let (evens, evens_out) = MemorySinkConfig::channel();
    let pipeline: Pipeline = PipelineBuilder::new()
        .source("src", source)
        .block("even", ["src"], filter(".n % 2 == 0"))
        .sink("all", ["src"], all)
        .sink("evens", ["even"], evens)
        .sink("picky", ["even"], PickySink)
        .build()
        .expect("valid");
    let running = pipeline.start().await.expect("starts");
    let mut ids = HashMap::new();
    for n in 0..1000 {
        let id = input.send(json!({ "n": n })).await.expect("accepted");
        ids.insert(id, n);
    }
    let mut acks = input.close();
    let (a, b, done) = tokio::join!(all_out.collect(), evens_out.collect(), running.wait());
    done.expect("clean");
    assert_eq!((a.len(), b.len()), (1000, 500));
    let mut seen: HashMap<u64, AckStatus> = HashMap::new();
    while let Some(Ack { id, status }) = acks.recv().await {
        assert!(seen.insert(id, status).is_none(), "message {id} acknowledged twice");
    }
    assert_eq!(seen.len(), 1000, "every message acknowledged");
    for (id, status) in seen {
        let n = ids[&id];
        let expected = if n % 2 == 0 && n % 7 == 0 { AckStatus::Failed } else { AckStatus::Delivered };
        assert_eq!(status, expected, "message n={n}");
    }
}

#[tokio::test]
async fn a_message_filtered_on_every_path_is_acknowledged_as_dropped() {
    let (source, input) = MemorySourceConfig::channel();
    let (sink, out) = MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("src", source)
        .block("none", ["src"], filter("false"))
        .sink("out", ["none"], sink)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    input.send(json!({"n": 1})).await.expect("accepted");
    let mut acks = input.close();
    let (values, done) = tokio::join!(out.collect(), running.wait());
    done.expect("clean");
    assert!(values.is_empty());
    assert_eq!(acks.recv().await.map(|a| a.status), Some(AckStatus::Dropped));
    assert!(acks.recv().await.is_none(), "exactly one acknowledgement");
}

#[tokio::test]
async fn inline_memory_messages_are_acknowledged_as_delivered() {
    let running = crate::support::pipeline(
        "[sources.in]\ntype = \"memory\"\nmessages = [{ n = 1 }, { n = 2 }, { n = 3 }]\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n",
    )
    .start()
    .await
    .expect("starts");
    let metrics = running.metrics().clone();
    let output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let (values, done) = tokio::join!(output.collect(), running.wait());
    done.expect("clean");
    assert_eq!(values.len(), 3);
    let text = prometheus_text(&metrics);
    assert!(text.contains("runnel_source_acknowledgements_total{node=\"in\",status=\"delivered\"} 3"), "{text}");
    assert!(text.contains("runnel_source_acknowledgements_total{node=\"in\",status=\"abandoned\"} 0"), "{text}");
}

fn prometheus_text(metrics: &runnel_engine::PipelineMetrics) -> String {
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &metrics.registry().gather(), &mut text).expect("encodes");
    String::from_utf8(text).expect("UTF-8")
}
