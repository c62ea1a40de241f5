//! The runtime: fan-out, fan-in, backpressure with bounded memory, error ports and policies,
//! graceful shutdown and the shutdown deadline.

use std::num::NonZeroUsize;
use std::time::Duration;

use runnel::PipelineBuilder;
use runnel_connectors::{GeneratorConfig, MemorySinkConfig, MemorySourceConfig};
use runnel_engine::{PipelineSettings, RunError};
use serde_json::json;

use crate::support::{StallingSink, pipeline, run_to_end, settle};

#[tokio::test]
async fn fan_out_gives_every_consumer_every_message_without_copying() {
    let (source, input) = MemorySourceConfig::channel();
    let (left, left_out) = MemorySinkConfig::channel();
    let (right, right_out) = MemorySinkConfig::channel();
    let running = PipelineBuilder::new()
        .source("src", source)
        .sink("left", ["src"], left)
        .sink("right", ["src"], right)
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    for n in 0..300 {
        input.send(json!({ "n": n })).await.expect("accepted");
    }
    drop(input);
    let (a, b, done) = tokio::join!(left_out.collect(), right_out.collect(), running.wait());
    done.expect("clean");
    assert_eq!(a.len(), 300);
    assert_eq!(b.len(), 300);
    for (x, y) in a.iter().zip(&b) {
        assert!(x.shares_value_with(y), "fan-out copied a value");
    }
}

#[tokio::test]
async fn fan_in_merges_every_input() {
    let values = run_to_end(
        r#"
[sources.a]
type = "memory"
messages = [{ from = "a", n = 1 }, { from = "a", n = 2 }]
[sources.b]
type = "memory"
messages = [{ from = "b", n = 1 }]
[sinks.out]
type = "memory"
inputs = ["a", "b"]
"#,
    )
    .await;
    let mut seen: Vec<String> = values.iter().map(|v| format!("{}{}", v["from"].as_str().unwrap_or("?"), v["n"])).collect();
    seen.sort();
    assert_eq!(seen, vec!["a1", "a2", "b1"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_sink_stops_the_source_and_bounds_memory() {
    let capacity = 2;
    let batch = 16;
    let sink = StallingSink::new();
    let settings = PipelineSettings {
        capacity: NonZeroUsize::new(capacity).expect("non-zero"),
        batch_size: NonZeroUsize::new(batch).expect("non-zero"),
        ..PipelineSettings::default()
    };
    let generator: GeneratorConfig = toml::from_str("count = 5000").expect("config");
    let running = PipelineBuilder::new()
        .with_settings(settings)
        .source("gen", generator)
        .sink("stall", ["gen"], sink.clone())
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let metrics = running.metrics().clone();
    let wait = tokio::spawn(running.wait());
    // Let the source run as far as it can: it must stop once the edge is full.
    settle().await;
    let emitted = metrics.sent_total("gen") as usize;
    assert!(emitted > 0, "the source never started");
    settle().await;
    assert_eq!(metrics.sent_total("gen") as usize, emitted, "the source kept going while the sink stalled");
    let bound = (capacity + 1) * batch;
    assert!(emitted <= bound, "{emitted} messages in flight, more than the {bound} the edge can hold");
    // Release the sink batch by batch: what is in flight never exceeds the bound.
    while sink.received() < 5000 {
        sink.gate.add_permits(1);
        settle().await;
        let in_flight = metrics.sent_total("gen") as usize - sink.received();
        assert!(in_flight <= bound, "{in_flight} messages in flight");
    }
    sink.gate.add_permits(1);
    wait.await.expect("joins").expect("clean");
    assert_eq!(sink.received(), 5000);
}

#[tokio::test]
async fn failed_messages_go_to_the_errors_port_with_their_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, "{\"n\":1}\nnot json\n{\"n\":3}\n").expect("writes");
    let values = run_to_end(&format!(
        r#"
[sources.in]
type = "file"
path = "{}"
[sinks.good]
type = "memory"
inputs = ["in"]
[sinks.out]
type = "memory"
inputs = ["in.errors"]
"#,
        file.display()
    ))
    .await;
    assert_eq!(values.len(), 1, "{values:?}");
    let record = &values[0];
    assert_eq!(record["node"], "in");
    assert_eq!(record["message"], "not json");
    assert_eq!(record["origin"]["offset"], 2);
    assert!(record["error"].as_str().is_some_and(|e| e.contains("in.ndjson:2: invalid JSON")), "{record}");
}

#[tokio::test]
async fn on_error_drop_counts_and_continues() {
    let running = pipeline(
        r#"
[sources.in]
type = "memory"
messages = [{ a = 1 }, { a = "x" }, { a = 3 }]
[blocks.add]
type = "map"
inputs = ["in"]
program = ".a + 1"
[sinks.out]
type = "memory"
inputs = ["add"]
"#,
    )
    .start()
    .await
    .expect("starts");
    let metrics = running.metrics().clone();
    let output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let (values, done) = tokio::join!(output.collect_values(), running.wait());
    done.expect("clean");
    assert_eq!(values, vec![json!(2), json!(4)]);
    assert_eq!(metrics.errors_total("add"), 1);
    assert_eq!(metrics.dropped_total("add"), 1);
}

#[tokio::test]
async fn on_error_fail_stops_the_pipeline_naming_node_and_message() {
    let running = pipeline(
        r#"
[sources.in]
type = "memory"
messages = [{ a = 1 }, { a = "x" }]
[blocks.add]
type = "map"
inputs = ["in"]
program = ".a + 1"
on_error = "fail"
[sinks.out]
type = "memory"
inputs = ["add"]
"#,
    )
    .start()
    .await
    .expect("starts");
    let output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let (_, done) = tokio::join!(output.collect_values(), running.wait());
    let error = done.expect_err("must fail").to_string();
    assert!(error.contains("node `add` failed: source `in` offset 1"), "{error}");
}

#[tokio::test]
async fn shutdown_stops_sources_and_drains_everything_downstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let running = pipeline(&format!(
        r#"
[sources.gen]
type = "generator"
[blocks.pass]
type = "map"
inputs = ["gen"]
program = "."
[sinks.file]
type = "file"
inputs = ["pass"]
path = "{}"
"#,
        out.display()
    ))
    .start()
    .await
    .expect("starts");
    let metrics = running.metrics().clone();
    let stop = running.shutdown_token();
    let watcher = metrics.clone();
    let trigger = async move {
        while watcher.received_total("file") < 1000 {
            tokio::task::yield_now().await;
        }
        stop.cancel();
    };
    running.run_until(trigger, Duration::from_secs(10)).await.expect("drains cleanly");
    let lines = std::fs::read_to_string(&out).expect("reads").lines().count() as u64;
    assert!(lines >= 1000);
    assert_eq!(lines, metrics.sent_total("gen"), "every generated message must reach the file");
}

#[tokio::test]
async fn past_the_deadline_the_unfinished_nodes_are_named() {
    let generator: GeneratorConfig = toml::from_str("").expect("config");
    let running = PipelineBuilder::new()
        .source("gen", generator)
        .sink("stuck", ["gen"], StallingSink::new())
        .build()
        .expect("valid")
        .start()
        .await
        .expect("starts");
    let error = running.run_until(async {}, Duration::from_millis(200)).await.expect_err("times out");
    match error {
        RunError::TimedOut { nodes, .. } => assert_eq!(nodes, vec!["stuck".to_owned()]),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn chained_blocks_keep_their_own_metrics_ports_and_deadlines() {
    let running = pipeline(
        r#"
[sources.in]
type = "memory"
open = true
[blocks.double]
type = "map"
inputs = ["in"]
program = ".n * 2 - 0"
[blocks.group]
type = "batch"
inputs = ["double"]
max_messages = 100
timeout = "50ms"
[sinks.out]
type = "memory"
inputs = ["group"]
[sinks.failed]
type = "memory"
inputs = ["double.errors"]
"#,
    )
    .start()
    .await
    .expect("starts");
    let metrics = running.metrics().clone();
    let input = runnel_connectors::take_input(running.resources(), "in").expect("open memory source");
    let mut out = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let mut failed = runnel_connectors::take_output(running.resources(), "failed").expect("sink");
    let stop = running.shutdown_token();
    let done = tokio::spawn(running.run_until(async move { stop.cancelled().await }, Duration::from_secs(5)));
    for n in [1, 2, 3] {
        input.send(json!({ "n": n })).await.expect("accepted");
    }
    input.send(json!({ "n": "x" })).await.expect("accepted");
    // The batch's timeout fires inside the chain while the input stays open.
    let batch = out.recv().await.expect("a batch after its timeout");
    assert_eq!(batch.value(), &json!([2, 4, 6]));
    assert_eq!(failed.recv().await.map(|m| m.value()["node"].clone()), Some(json!("double")));
    assert_eq!(metrics.received_total("double"), 4);
    assert_eq!(metrics.sent_total("double"), 4, "3 on `out`, handed on inside the chain, and 1 on `errors`");
    assert_eq!(metrics.received_total("group"), 3);
    assert_eq!(metrics.errors_total("double"), 1);
    done.abort();
}

/// On several worker threads the stateless head of a chain (filter, map) runs on several batches
/// at once; the stateful block after it must still see every message in input order, the errors
/// port too, and every block's counts must add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forked_stateless_blocks_keep_input_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    let lines: Vec<String> = (0..20_000).map(|n| if n % 1000 == 7 { r#"{"n":"x"}"#.to_owned() } else { format!(r#"{{"n":{n}}}"#) }).collect();
    std::fs::write(&input, lines.join("\n")).expect("writes input");
    let running = pipeline(&format!(
        r#"
[sources.in]
type = "file"
path = {input:?}
[blocks.keep]
type = "filter"
inputs = ["in"]
condition = '(.n | type) == "string" or .n % 3 != 0'
[blocks.double]
type = "map"
inputs = ["keep"]
program = ".n * 2 - 0"
[blocks.group]
type = "batch"
inputs = ["double"]
max_messages = 500
[sinks.out]
type = "memory"
inputs = ["group"]
[sinks.failed]
type = "memory"
inputs = ["double.errors"]
"#,
        input = input.display().to_string()
    ))
    .start()
    .await
    .expect("starts");
    let metrics = running.metrics().clone();
    let out = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let failed = runnel_connectors::take_output(running.resources(), "failed").expect("sink");
    let (groups, failures, result) = tokio::join!(out.collect_values(), failed.collect_values(), running.wait());
    result.expect("runs cleanly");
    let doubled: Vec<i64> = groups.iter().flat_map(|g| g.as_array().expect("a batch").iter().map(|v| v.as_i64().expect("a number"))).collect();
    let expected: Vec<i64> = (0..20_000).filter(|n| n % 1000 != 7 && n % 3 != 0).map(|n| n * 2).collect();
    assert_eq!(doubled, expected, "every kept message, doubled, in input order");
    let failed_lines: Vec<u64> = failures.iter().map(|f| f["origin"]["offset"].as_u64().expect("a line number")).collect();
    assert_eq!(failed_lines, (0..20).map(|k| k * 1000 + 8).collect::<Vec<u64>>(), "failures in input order, by line");
    assert_eq!(metrics.received_total("keep"), 20_000);
    assert_eq!(metrics.received_total("double"), expected.len() as u64 + 20);
    assert_eq!(metrics.sent_total("double"), expected.len() as u64 + 20, "kept messages on `out`, failures on `errors`");
    assert_eq!(metrics.errors_total("double"), 20);
    assert_eq!(metrics.received_total("group"), expected.len() as u64);
}
