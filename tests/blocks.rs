//! The built-in blocks in whole pipelines: named ports from TOML, the tag-cloud golden output,
//! and docs/blocks.md kept in step with the registry.

use runnel::Pipeline;
use serde_json::Value;

use crate::support::{root, run_to_end, validate_doc_examples};

#[tokio::test]
async fn route_ports_are_read_by_name_downstream() {
    let toml = r#"
[sources.in]
type = "memory"
messages = [{ n = 1 }, { n = 12 }, { n = 4 }]
[blocks.split]
type = "route"
inputs = ["in"]
[blocks.split.routes]
big = '.n > 10'
even = '.n % 2 == 0'
[blocks.tag_big]
type = "map"
inputs = ["split.big"]
program = '. + {route: "big"}'
[blocks.tag_rest]
type = "map"
inputs = ["split.even", "split.unmatched"]
program = '. + {route: "other"}'
[sinks.out]
type = "memory"
inputs = ["tag_big", "tag_rest"]
"#;
    let mut values = run_to_end(toml).await;
    values.sort_by_key(|v| v["n"].as_i64());
    let routes: Vec<(i64, &str)> = values.iter().map(|v| (v["n"].as_i64().unwrap_or(0), v["route"].as_str().unwrap_or(""))).collect();
    assert_eq!(routes, vec![(1, "other"), (4, "other"), (12, "big")]);
}

#[tokio::test]
async fn the_tag_cloud_pipeline_renders_the_expected_html() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("cloud.ndjson");
    let file = root().join("pipelines/tag-cloud.toml");
    let text = std::fs::read_to_string(&file).expect("reads");
    let env = |name: &str| (name == "TAG_CLOUD_OUT").then(|| out.display().to_string());
    let pipeline = Pipeline::parse(&text, Some(file), &runnel::registry(), env).unwrap_or_else(|e| panic!("{e}"));
    pipeline.start().await.expect("starts").wait().await.expect("runs");
    let read = |path: &std::path::Path| -> Vec<Value> {
        std::fs::read_to_string(path).expect("reads").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
    };
    let expected = read(&root().join("pipelines/tag-cloud/expected.ndjson"));
    assert_eq!(read(&out), expected);
    assert_eq!(expected.len(), 2, "two one-minute windows");
}

/// Every block type of runnel-blocks has a section in docs/blocks.md (the connectors' blocks,
/// such as `http`, are in docs/connectors.md), and every `toml` example there is a complete
/// pipeline that validates without warnings.
#[test]
fn docs_blocks_md_covers_every_block_and_its_examples_validate() {
    let (text, examples) = validate_doc_examples("docs/blocks.md");
    let registry = runnel_blocks::registry().merge(runnel_js::registry());
    for entry in registry.entries().filter(|e| e.role == runnel_engine::Role::Transform) {
        assert!(text.contains(&format!("\n## `{}`\n", entry.type_name)), "docs/blocks.md has no section for `{}`", entry.type_name);
    }
    let blocks = registry.entries().filter(|e| e.role == runnel_engine::Role::Transform).count();
    assert!(examples >= blocks, "{examples} examples for {blocks} blocks");
}

/// A `lambda` block from a pipeline file: a jq handler counting messages per room in a tumbling
/// window's state, over Kinesis records of two shards, one of them a poison record (data that is
/// not JSON) that bisect isolates and `on_failure` receives with its payload.
#[tokio::test]
async fn a_lambda_block_counts_rooms_in_windows_and_isolates_a_poison_record() {
    use base64::Engine;
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/chat";
    let record = |shard: u32, i: u32, data: String| {
        let seq = format!("4959033827149025660855969253836157109592157598913{i:07}");
        serde_json::json!({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": format!("k{i}"), "sequenceNumber": seq,
                        "data": base64::engine::general_purpose::STANDARD.encode(data), "approximateArrivalTimestamp": 1_545_084_650.0 + f64::from(i % 10)},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": format!("shardId-{shard:012}:{seq}"),
            "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::000000000000:role/runnel",
            "awsRegion": "us-east-1", "eventSourceARN": arn,
        })
    };
    let mut messages: Vec<Value> = (0..8).map(|i| record(i % 2, i, format!(r#"{{"room":"r{}"}}"#, i % 3))).collect();
    messages.insert(3, record(1, 100, "not json".to_owned()));
    let pipeline = serde_json::json!({
        "sources": {"in": {"type": "memory", "messages": messages}},
        "blocks": {"count": {
            "type": "lambda", "inputs": ["in"], "batch_size": 10, "tumbling_window": "60s", "maximum_retry_attempts": 0,
            "bisect_batch_on_function_error": true,
            "handler": {"type": "map", "program":
                "{state: (reduce (.Records[] | .kinesis.data | @base64d | fromjson | .room) as $room (.state; .[$room] += 1))}"},
        }},
        "sinks": {
            "out": {"type": "memory", "inputs": ["count"]},
            "failed": {"type": "memory", "inputs": ["count.on_failure"]},
            "windows": {"type": "memory", "inputs": ["count.windows"]},
        },
    });
    let toml = toml::to_string(&toml::Value::try_from(pipeline).expect("TOML")).expect("TOML text");
    let running = crate::support::pipeline(&toml).start().await.expect("starts");
    let take = |name: &str| runnel_connectors::take_output(running.resources(), name).expect("a memory sink");
    let (out, failed, windows) = (take("out"), take("failed"), take("windows"));
    let (out, failed, windows, result) = tokio::join!(out.collect_values(), failed.collect_values(), windows.collect_values(), running.wait());
    result.expect("runs cleanly");
    assert_eq!(out.len(), 8, "every good record goes out once");
    let [failure] = &failed[..] else { panic!("one on-failure record: {failed:?}") };
    assert_eq!(failure["KinesisBatchInfo"]["batchSize"], 1);
    assert_eq!(failure["KinesisBatchInfo"]["shardId"], "shardId-000000000001");
    assert_eq!(failure["payload"][0]["kinesis"]["partitionKey"], "k100");
    let mut counts: Vec<(String, Value)> = windows.iter().map(|w| (w["shardId"].as_str().unwrap_or("").to_owned(), w["state"].clone())).collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        counts,
        [
            ("shardId-000000000000".to_owned(), serde_json::json!({"r0": 2, "r1": 1, "r2": 1})),
            ("shardId-000000000001".to_owned(), serde_json::json!({"r0": 1, "r1": 2, "r2": 1})),
        ]
    );
}
