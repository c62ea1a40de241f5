//! One pipeline in this process: a round trip keeps keys and headers, bad JSON goes to the errors
//! port without stopping its partition, and a message that fails downstream is read again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::Message as _;
use runnel::PipelineBuilder;
use runnel_connectors::{KafkaSourceConfig, take_output};
use runnel_engine::{AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, RunContext, async_trait};
use serde_json::{Value, json};

use super::{
    Record, brokers, committed, counter, create_topic, eventually, headers_of, payloads, produce, read_topic, runtime, source_toml, stop, unique,
};
use crate::support::pipeline;

#[test]
fn a_round_trip_keeps_keys_and_headers_and_commits_everything() {
    let Some(brokers) = brokers() else { return };
    let (input, output, group) = (unique("roundtrip-in"), unique("roundtrip-out"), unique("roundtrip"));
    create_topic(&brokers, &input, 2);
    create_topic(&brokers, &output, 3);
    produce(
        &brokers,
        &input,
        (0..20).map(|n| Record {
            key: Some(format!("user-{}", n % 3)),
            payload: json!({"n": n}).to_string(),
            headers: vec![("trace".into(), format!("t{n}")), ("tenant".into(), "acme".into())],
            partition: None,
        }),
    );
    let toml = format!(
        "[sources.in]\n{}\n[sinks.out]\ntype = \"kafka\"\ninputs = [\"in\"]\nbrokers = \"{brokers}\"\ntopic = \"{output}\"\ncompression = \"zstd\"\n",
        // Subscribed by regular expression.
        source_toml(&brokers, &input, &group).replace(&format!("[\"{input}\"]"), &format!("[\"^{input}$\"]"))
    );
    let runtime = runtime();
    let running = runtime.block_on(pipeline(&toml).start()).expect("starts");
    let copied = read_topic(&brokers, &output, 20, Duration::from_secs(60));
    eventually("the group committed every offset", Duration::from_secs(30), || committed(&brokers, &group, &input).values().sum::<i64>() == 20);
    stop(&runtime, running);

    assert_eq!(copied.len(), 20, "every message copied");
    for (message, value) in copied.iter().zip(payloads(&copied)) {
        let n = value["n"].as_i64().expect("n");
        let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned());
        assert_eq!(key, Some(format!("user-{}", n % 3)), "the key of message {n}");
        assert_eq!(headers_of(message), vec![("trace".into(), format!("t{n}")), ("tenant".into(), "acme".into())]);
    }
    let mut ns: Vec<i64> = payloads(&copied).iter().filter_map(|v| v["n"].as_i64()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..20).collect::<Vec<_>>(), "each message once");
}

#[test]
fn bad_json_goes_to_the_errors_port_and_the_partition_goes_on() {
    let Some(brokers) = brokers() else { return };
    let (input, group) = (unique("badjson"), unique("badjson"));
    create_topic(&brokers, &input, 1);
    let payloads = ["{\"n\":0}", "{not json", "{\"n\":2}", "", "{\"n\":4}"];
    produce(&brokers, &input, payloads.iter().map(|p| Record { payload: (*p).to_owned(), ..Record::default() }));
    let toml = format!(
        "[sources.in]\n{}\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n[sinks.dead]\ntype = \"memory\"\ninputs = [\"in.errors\"]\n",
        source_toml(&brokers, &input, &group)
    );
    let runtime = runtime();
    let running = runtime.block_on(pipeline(&toml).start()).expect("starts");
    let mut out = take_output(running.resources(), "out").expect("out");
    let mut dead = take_output(running.resources(), "dead").expect("dead");
    let (good, bad) = runtime.block_on(async {
        let within = Duration::from_secs(60);
        let mut good = Vec::new();
        for _ in 0..3 {
            good.push(tokio::time::timeout(within, out.recv()).await.expect("in time").expect("a message"));
        }
        let bad = tokio::time::timeout(within, dead.recv()).await.expect("in time").expect("an error record");
        (good, bad)
    });
    eventually("the offset after the last message is committed", Duration::from_secs(30), || committed(&brokers, &group, &input).get(&0) == Some(&5));
    stop(&runtime, running);

    let values: Vec<&Value> = good.iter().map(|m| m.value()).collect();
    assert_eq!(values, [&json!({"n": 0}), &json!({"n": 2}), &json!({"n": 4})]);
    assert_eq!(good[1].meta().origin.offset, Some(2));
    assert_eq!(good[1].meta().origin.stream(), Some(input.as_str()));
    let record = bad.value();
    assert_eq!(record["message"], "{not json");
    assert_eq!(record["origin"], json!({"source": "in", "stream": input, "partition": 0, "offset": 1}));
    let error = record["error"].as_str().expect("error text");
    assert!(error.starts_with(&format!("{input} partition 0 offset 1: invalid JSON")), "{error}");
}

/// A sink that fails the message with `n == 2` the first time it sees it.
#[derive(Debug, Clone, Default)]
struct FailsOnce {
    seen: Arc<Mutex<Vec<i64>>>,
}

#[async_trait]
impl BlockConfig for FailsOnce {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }
    async fn build(&self, _: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(self.clone()))
    }
}

#[async_trait]
impl Block for FailsOnce {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        while let Some(batch) = cx.input.next().await {
            for message in batch {
                let n = message.value()["n"].as_i64().unwrap_or(-1);
                let mut seen = self.seen.lock().expect("lock");
                let first_time = !seen.contains(&n);
                seen.push(n);
                drop(seen);
                message.ack(if n == 2 && first_time { AckStatus::Failed } else { AckStatus::Delivered });
            }
        }
        Ok(())
    }
}

#[test]
fn a_message_that_failed_downstream_is_read_again_and_committed_after() {
    let Some(brokers) = brokers() else { return };
    let (input, group) = (unique("rewind"), unique("rewind"));
    create_topic(&brokers, &input, 1);
    produce(&brokers, &input, (0..5).map(|n| Record::json(json!({"n": n}))));
    let source: KafkaSourceConfig = toml::from_str(&source_toml(&brokers, &input, &group).replace("type = \"kafka\"\n", "")).expect("config");
    let sink = FailsOnce::default();
    let pipeline = PipelineBuilder::new().source("in", source).sink("out", ["in"], sink.clone()).build().expect("valid");
    let runtime = runtime();
    let running = runtime.block_on(pipeline.start()).expect("starts");
    eventually("the failed message is delivered on its second read", Duration::from_secs(60), || {
        sink.seen.lock().expect("lock").iter().filter(|n| **n == 2).count() == 2
    });
    eventually("everything is committed", Duration::from_secs(30), || committed(&brokers, &group, &input).get(&0) == Some(&5));
    eventually("the commit is counted", Duration::from_secs(10), || counter(&running, "runnel_kafka_commits_total", ("result", "ok")) >= 1.0);
    let rewinds = counter(&running, "runnel_kafka_partition_rewinds_total", ("node", "in"));
    let assigned = counter(&running, "runnel_kafka_rebalances_total", ("event", "assign"));
    stop(&runtime, running);

    let seen = sink.seen.lock().expect("lock").clone();
    for n in 0..5 {
        assert!(seen.contains(&n), "message {n} delivered: {seen:?}");
    }
    assert_eq!(rewinds, 1.0, "one rewind");
    assert_eq!(assigned, 1.0, "one assignment");
}
