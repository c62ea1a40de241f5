//! The `lambda` block on the `kafka` source, against the broker: messages invoked as Lambda's
//! Kafka event per topic-partition, a poison message isolated by bisection and set aside as an
//! on-failure record with `KafkaBatchInfo`, and the group's offsets committed past everything,
//! the set-aside message included (its sink stored it).

use std::time::Duration;

use runnel_connectors::take_output;
use serde_json::{Value, json};

use super::{Record, brokers, committed, create_topic, eventually, produce, runtime, source_toml, stop, unique};
use crate::support::pipeline;

#[test]
fn kafka_messages_are_invoked_in_lambdas_kafka_event_and_a_poison_one_is_set_aside() {
    let Some(brokers) = brokers() else { return };
    let (topic, group) = (unique("lambda-in"), unique("lambda"));
    create_topic(&brokers, &topic, 2);
    produce(
        &brokers,
        &topic,
        (0..40).map(|n| Record {
            key: Some(format!("user-{}", n % 4)),
            payload: if n == 17 { json!({"n": n, "poison": true}) } else { json!({"n": n}) }.to_string(),
            partition: Some(n % 2),
            ..Record::default()
        }),
    );
    // The handler fails a batch holding a poison message; every event it accepts is kept.
    let toml = format!(
        "[sources.in]\n{source}\n\
         [blocks.function]\ntype = \"lambda\"\ninputs = [\"in\"]\nevent_source = \"kafka\"\nbootstrap_servers = \"{brokers}\"\n\
         batch_size = 8\nmaximum_batching_window = \"200ms\"\nbisect_batch_on_function_error = true\nmaximum_retry_attempts = 0\n\
         handler = {{ type = \"map\", program = '''\n\
         if [.records[][] | .value | @base64d | fromjson | select(.poison)] | length > 0 then error(\"poison\") else {{}} end\n''' }}\n\
         [sinks.out]\ntype = \"memory\"\ninputs = [\"function\"]\n\
         [sinks.failed]\ntype = \"memory\"\ninputs = [\"function.on_failure\"]\n",
        source = source_toml(&brokers, &topic, &group),
    );
    let runtime = runtime();
    let running = runtime.block_on(pipeline(&toml).start()).expect("starts");
    let mut out = take_output(running.resources(), "out").expect("out");
    let mut failed = take_output(running.resources(), "failed").expect("failed");
    let (processed, set_aside) = runtime.block_on(async {
        let within = Duration::from_secs(60);
        let mut processed = Vec::new();
        while processed.len() < 39 {
            processed.push(tokio::time::timeout(within, out.recv()).await.expect("in time").expect("a message"));
        }
        let set_aside = tokio::time::timeout(within, failed.recv()).await.expect("in time").expect("an on-failure record");
        (processed, set_aside)
    });
    eventually("the group committed every offset", Duration::from_secs(30), || committed(&brokers, &group, &topic).values().sum::<i64>() == 40);
    stop(&runtime, running);

    let mut ns: Vec<i64> = processed.iter().filter_map(|m| m.value()["n"].as_i64()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..40).filter(|&n| n != 17).collect::<Vec<_>>(), "every other message processed once");

    let failure: &Value = set_aside.value();
    assert_eq!(failure["requestContext"]["condition"], "RetryAttemptsExhausted", "{failure}");
    let info = &failure["KafkaBatchInfo"];
    assert_eq!(info["batchSize"], 1, "bisected down to the poison message: {failure}");
    assert_eq!(info["bootstrapServers"], brokers.as_str(), "{failure}");
    let partition = &info["recordsInfo"][format!("{topic}-1")];
    assert!(partition["firstRecordOffset"].is_string(), "partition 1 named: {failure}");
    assert_eq!(partition["firstRecordOffset"], partition["lastRecordOffset"], "one message of partition 1: {failure}");
    assert_eq!(failure["payload"], json!([{"n": 17, "poison": true}]), "the message itself");
}
