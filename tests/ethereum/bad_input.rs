//! Bad input from a node: malformed frames, answers of the wrong shape, JSON-RPC errors. Real
//! nodes never send these on purpose, so these tests talk to a scripted fake node
//! (`fake.rs`); the unknown ABI event, which a real contract does emit, is tested on the real
//! nodes in `mod.rs`. Each bad input is logged or recorded naming the source and the block,
//! and the stream goes on, or stops when `on_error = "fail"` says so.

use std::time::Duration;

use runnel_connectors::MemoryOutput;
use serde_json::Value;

use super::fake::{FakeNode, hash};
use super::logs::Logs;

const NOTE_ABI: &str = super::ABI;

/// A scripted reply sent as a raw frame (`fake::RAW`) that is not JSON.
const NOT_JSON: &str = "RAW:not JSON, from the fake";

fn note_topic() -> String {
    alloy_primitives::keccak256(super::NOTE).to_string()
}

/// `ethereum` source `name` (from block 1, calls answered within 300 ms) → memory sink `out`
/// reading its messages and its `errors`.
async fn start(fake: &FakeNode, name: &str, extra: &str, dir: &std::path::Path) -> (runnel::RunningPipeline, MemoryOutput) {
    std::fs::write(dir.join("note.abi.json"), NOTE_ABI).expect("writes the ABI");
    let toml = format!(
        r#"
[sources.{name}]
type = "ethereum"
url = "{}"
abi = "{}"
from_block = 1
request_timeout_ms = 300
reconnect = {{ initial_ms = 20, max_ms = 100 }}
{extra}

[sinks.out]
type = "memory"
inputs = ["{name}", "{name}.errors"]
"#,
        fake.url(),
        dir.join("note.abi.json").display()
    );
    let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline").start().await.expect("starts");
    let out = runnel_connectors::take_output(pipeline.resources(), "out").expect("the sink");
    (pipeline, out)
}

/// The next `n` values: decoded logs (their `args.value`) and error records, apart.
async fn next(out: &mut MemoryOutput, n: usize) -> (Vec<String>, Vec<Value>) {
    let (mut logs, mut errors) = (Vec::new(), Vec::new());
    while logs.len() + errors.len() < n {
        let message =
            tokio::time::timeout(Duration::from_secs(20), out.recv()).await.unwrap_or_else(|_| panic!("timed out after {logs:?} {errors:?}"));
        let value = message.expect("a message").into_value();
        match value["args"]["value"].as_str() {
            Some(noted) => logs.push(noted.to_owned()),
            None => errors.push(value),
        }
    }
    (logs, errors)
}

#[tokio::test]
async fn malformed_frames_and_heads_are_logged_naming_the_source_and_skipped() {
    let logs = Logs::capture();
    let fake = FakeNode::start(1, &note_topic()).await;
    let dir = tempfile::tempdir().expect("a folder");
    let (pipeline, mut out) = start(&fake, "frames", "", dir.path()).await;
    assert_eq!(next(&mut out, 1).await.0, ["1"]);
    fake.inject("this is not JSON {");
    fake.inject(r#"{"jsonrpc":"2.0","id":424242,"result":"0x1"}"#);
    fake.inject(r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x1"}}"#);
    fake.inject(r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x1","result":{"number":"0x2","parentHash":"0x00"}}}"#);
    fake.inject(r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x1","result":{"number":"two","hash":"0x01","parentHash":"0x00"}}}"#);
    // The stream goes on: the next heads bring blocks 2 and 3, none missed.
    fake.announce(2);
    fake.announce(3);
    let (noted, errors) = next(&mut out, 2).await;
    assert_eq!((noted, errors), (vec!["2".to_owned(), "3".to_owned()], vec![]));
    logs.expect(&["source=frames", "a frame that is not JSON was skipped", "this is not JSON {"]).await;
    logs.expect(&["source=frames", "an answer to no call was skipped", "424242"]).await;
    logs.expect(&["source=frames", "a notification without `subscription` or `result` was skipped"]).await;
    logs.expect(&["node=frames", "a new head was skipped", "a header without `hash`"]).await;
    logs.expect(&["node=frames", "a new head was skipped", "`number` is not a quantity"]).await;
    pipeline.shutdown_token().cancel();
    pipeline.wait().await.expect("stops cleanly");
}

#[tokio::test]
async fn answers_of_the_wrong_shape_and_node_errors_are_asked_again_and_then_recorded_naming_the_block() {
    let logs = Logs::capture();
    let fake = FakeNode::start(1, &note_topic()).await;
    let dir = tempfile::tempdir().expect("a folder");
    let (pipeline, mut out) = start(&fake, "answers", "", dir.path()).await;
    assert_eq!(next(&mut out, 1).await.0, ["1"]);
    let too_many = r#""error":{"code":-32005,"message":"query returned more than 10000 results"}"#;
    // Block 2's logs are never readable (four answers, four errors); block 3's are after three
    // bad answers (an error, a wrong shape, neither result nor error), block 4's after a frame
    // that is not JSON (so no answer in time).
    fake.script("eth_getLogs", 2, &[too_many; 4]);
    fake.script("eth_getLogs", 3, &[r#""error":{"code":-32000,"message":"header not found"}"#, r#""result":{"logs":[]}"#, ""]);
    fake.script("eth_getLogs", 4, &[NOT_JSON]);
    // Head 5 comes without head 4: the source asks for block 4 by hash, and the node does not
    // know it yet (null), then answers an error: both times the head is skipped, and the next
    // one fetches what was missed.
    fake.script("eth_getBlockByHash", 4, &[r#""result":null"#, r#""error":{"code":-32603,"message":"internal error"}"#]);
    fake.announce(2);
    fake.announce(3);
    fake.announce(5);
    fake.announce(5);
    fake.announce(6);
    fake.announce(7);
    let (noted, errors) = next(&mut out, 6).await;
    assert_eq!(noted, ["3", "4", "5", "6", "7"], "every other block, in order");
    let error = errors[0]["error"].as_str().expect("an error");
    assert!(
        error.contains(&format!("cannot read block 2 ({})", hash(2))) && error.contains("error -32005: query returned more than 10000 results"),
        "{error}"
    );
    assert_eq!(errors[0]["node"], "answers");
    assert_eq!(errors[0]["message"]["number"], 2);
    logs.expect(&["node=answers", "block=3", "asking again", "error -32000: header not found"]).await;
    logs.expect(&["node=answers", "block=3", "asking again", "not a list of logs: {\"logs\":[]}"]).await;
    logs.expect(&["node=answers", "block=3", "asking again", "neither `result` nor `error`"]).await;
    logs.expect(&["node=answers", "block=4", "asking again", "no answer to `eth_getLogs`"]).await;
    logs.expect(&["source=answers", "a frame that is not JSON was skipped", "not JSON, from the fake"]).await;
    logs.expect(&["node=answers", "block=2", "cannot read a block: the state stays before it"]).await;
    logs.expect(&["node=answers", "head=5", "cannot fetch the blocks before a new head", &format!("no block {}", hash(4))]).await;
    logs.expect(&["node=answers", "head=5", "cannot fetch the blocks before a new head", "error -32603: internal error"]).await;
    pipeline.shutdown_token().cancel();
    pipeline.wait().await.expect("stops cleanly");
}

#[tokio::test]
async fn with_on_error_fail_an_unreadable_block_stops_the_source_naming_it() {
    let fake = FakeNode::start(1, &note_topic()).await;
    let dir = tempfile::tempdir().expect("a folder");
    std::fs::write(dir.path().join("note.abi.json"), NOTE_ABI).expect("writes the ABI");
    let toml = format!(
        "[sources.strict]\ntype = \"ethereum\"\nurl = \"{}\"\nabi = \"{}\"\nfrom_block = 1\non_error = \"fail\"\n\n[sinks.out]\ntype = \"memory\"\ninputs = [\"strict\"]\n",
        fake.url(),
        dir.path().join("note.abi.json").display()
    );
    let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline").start().await.expect("starts");
    let mut out = runnel_connectors::take_output(pipeline.resources(), "out").expect("the sink");
    assert_eq!(next(&mut out, 1).await.0, ["1"]);
    fake.script("eth_getLogs", 2, &[r#""error":{"code":-32005,"message":"query returned more than 10000 results"}"#; 4]);
    fake.announce(2);
    let error = tokio::time::timeout(Duration::from_secs(20), pipeline.wait()).await.expect("ends").expect_err("fails").to_string();
    assert!(error.contains("node `strict` failed") && error.contains("cannot read block 2") && error.contains("-32005"), "{error}");
}
