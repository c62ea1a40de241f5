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
    let registry = runnel_blocks::registry();
    for entry in registry.entries().filter(|e| e.role == runnel_engine::Role::Transform) {
        assert!(text.contains(&format!("\n## `{}`\n", entry.type_name)), "docs/blocks.md has no section for `{}`", entry.type_name);
    }
    let blocks = registry.entries().filter(|e| e.role == runnel_engine::Role::Transform).count();
    assert!(examples >= blocks, "{examples} examples for {blocks} blocks");
}
