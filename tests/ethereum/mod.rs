//! The `ethereum` source against real nodes, hardhat and ganache (the same tests on both): logs
//! of a contract deployed from bytecode, decoded with an ABI; reorganisations made with
//! `evm_snapshot` / `evm_revert`, retracted with confirmations 0 and never emitted with enough
//! confirmations; resume from the state file after a restart; a wrong chain id; a log of an
//! event the ABI does not declare. Bad input that real nodes never send on purpose is tested
//! against a scripted fake node (`bad_input.rs`, `fake.rs`).

mod bad_input;
mod crash;
mod fake;
pub(crate) mod logs;
mod node;
mod proxy;

use std::time::Duration;

use node::{Node, word};
use runnel::RunningPipeline;
use runnel_connectors::MemoryOutput;
use serde_json::Value;

/// The event the logger contract emits, as its ABI declares it.
const NOTE: &str = "Note(uint256)";
const ABI: &str = r#"[{"type":"event","name":"Note","anonymous":false,"inputs":[{"name":"value","type":"uint256","indexed":false}]}]"#;

struct Running {
    pipeline: RunningPipeline,
    out: MemoryOutput,
}

/// Starts `ethereum` → memory sink `out`, with `extra` settings for the source.
/// The source reads from the block after the node's head now, so that a transaction sent
/// before it has connected is still read (with `from_block = "latest"`, the head when it
/// connects, it would not be).
async fn start(node: &Node, address: &str, extra: &str, dir: &std::path::Path) -> Running {
    let from = node::quantity(&node.call("eth_blockNumber", serde_json::json!([])).await) + 1;
    start_at(&node.ws(), address, &format!("from_block = {from}\n{extra}"), dir).await
}

/// As [`start`], connecting to `url`.
async fn start_at(url: &str, address: &str, extra: &str, dir: &std::path::Path) -> Running {
    std::fs::write(dir.join("note.abi.json"), ABI).expect("writes the ABI");
    let toml = format!(
        r#"
[sources.chain]
type = "ethereum"
url = "{}"
address = "{address}"
abi = "{}"
reconnect = {{ initial_ms = 50, max_ms = 500 }}
{extra}

[sinks.out]
type = "memory"
inputs = ["chain"]
"#,
        url,
        dir.join("note.abi.json").display()
    );
    let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline").start().await.expect("starts");
    let out = runnel_connectors::take_output(pipeline.resources(), "out").expect("the sink");
    Running { pipeline, out }
}

/// The next `n` messages, or a failure after 30 s.
async fn next(out: &mut MemoryOutput, n: usize, what: &str) -> Vec<Value> {
    let mut values = Vec::new();
    while values.len() < n {
        match tokio::time::timeout(Duration::from_secs(30), out.recv()).await {
            Ok(Some(message)) => values.push(message.into_value()),
            Ok(None) => panic!("{what}: the pipeline ended after {values:?}"),
            Err(_) => panic!("{what}: timed out after {values:?}"),
        }
    }
    values
}

fn noted(values: &[Value]) -> Vec<(String, bool)> {
    values.iter().map(|v| (v["args"]["value"].as_str().expect("a decoded value").to_owned(), v["removed"].as_bool().expect("removed"))).collect()
}

/// Waits until the source has started following: a first log it must see.
async fn warmed_up(node: &Node, running: &mut Running, contract: &str) {
    node.send(Some(contract), &word(999)).await;
    let first = next(&mut running.out, 1, node.name).await;
    assert_eq!(noted(&first), vec![("999".to_owned(), false)], "{}", node.name);
}

#[tokio::test]
async fn logs_of_a_contract_are_emitted_decoded_in_chain_order() {
    for node in Node::all().await {
        let topic = node.keccak(NOTE).await;
        let contract = node.deploy_logger(&topic).await;
        let dir = tempfile::tempdir().expect("a folder");
        let mut running = start(&node, &contract, "", dir.path()).await;
        warmed_up(&node, &mut running, &contract).await;
        // A log of another contract with the same event is not ours.
        let other = node.deploy_logger(&topic).await;
        node.send(Some(&other), &word(7)).await;
        for n in 1..=5 {
            node.send(Some(&contract), &word(n)).await;
        }
        let values = next(&mut running.out, 5, node.name).await;
        assert_eq!(noted(&values), (1..=5).map(|n| (n.to_string(), false)).collect::<Vec<_>>(), "{}", node.name);
        let blocks: Vec<u64> = values.iter().map(|v| node::quantity(&v["blockNumber"])).collect();
        assert!(blocks.windows(2).all(|w| w[0] < w[1]), "{}: one block per transaction, in order: {blocks:?}", node.name);
        for value in &values {
            assert_eq!(value["event"], "Note");
            assert_eq!(value["address"].as_str().map(str::to_lowercase), Some(contract.to_lowercase()));
            assert_eq!(value["topics"][0], Value::from(topic.clone()));
        }
        running.pipeline.shutdown_token().cancel();
        running.pipeline.wait().await.expect("stops cleanly");
    }
}

#[tokio::test]
async fn a_log_of_an_event_the_abi_does_not_declare_goes_to_errors_naming_its_block_and_topic() {
    for node in Node::all().await {
        let note = node.keccak(NOTE).await;
        let other = node.keccak("Other(uint256)").await;
        let (noting, undeclared) = (node.deploy_logger(&note).await, node.deploy_logger(&other).await);
        let dir = tempfile::tempdir().expect("a folder");
        let from = node::quantity(&node.call("eth_blockNumber", serde_json::json!([])).await) + 1;
        std::fs::write(dir.path().join("note.abi.json"), ABI).expect("writes the ABI");
        let toml = format!(
            "[sources.chain]\ntype = \"ethereum\"\nurl = \"{}\"\naddress = [\"{noting}\", \"{undeclared}\"]\nabi = \"{}\"\nfrom_block = {from}\n\n\
             [sinks.out]\ntype = \"memory\"\ninputs = [\"chain\"]\n\n[sinks.errors]\ntype = \"memory\"\ninputs = [\"chain.errors\"]\n",
            node.ws(),
            dir.path().join("note.abi.json").display()
        );
        let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline").start().await.expect("starts");
        let mut out = runnel_connectors::take_output(pipeline.resources(), "out").expect("the sink");
        let mut errors = runnel_connectors::take_output(pipeline.resources(), "errors").expect("the errors sink");
        let receipt = node.send(Some(&undeclared), &word(5)).await;
        node.send(Some(&noting), &word(6)).await;
        // The declared event is decoded and emitted; the other goes to `errors`, whole.
        assert_eq!(noted(&next(&mut out, 1, node.name).await), vec![("6".to_owned(), false)], "{}", node.name);
        let record = next(&mut errors, 1, node.name).await.remove(0);
        let block = node::quantity(&receipt["blockNumber"]);
        let error = record["error"].as_str().expect("a reason");
        assert!(
            error.starts_with(&format!(
                "block {block} ({}), log 0: the ABI declares no event with topic0 {other}",
                receipt["blockHash"].as_str().expect("a hash")
            )),
            "{}: {error}",
            node.name
        );
        assert_eq!(record["node"], "chain");
        assert_eq!(record["message"]["data"], Value::from(word(5)), "{}: the log itself", node.name);
        assert_eq!(record["message"]["topics"][0], Value::from(other.clone()));
        pipeline.shutdown_token().cancel();
        pipeline.wait().await.expect("stops cleanly");
    }
}

/// Reverting to a snapshot and mining a longer branch replaces the blocks after the snapshot.
async fn reorganise(node: &Node, contract: &str, orphaned: u64, replacing: u64) {
    let snapshot = node.call("evm_snapshot", serde_json::json!([])).await;
    node.send(Some(contract), &word(orphaned)).await;
    node.call("evm_revert", serde_json::json!([snapshot])).await;
    node.send(Some(contract), &word(replacing)).await;
}

#[tokio::test]
async fn a_reorganisation_retracts_what_replaced_blocks_emitted() {
    for node in Node::all().await {
        let topic = node.keccak(NOTE).await;
        let contract = node.deploy_logger(&topic).await;
        let dir = tempfile::tempdir().expect("a folder");
        let mut running = start(&node, &contract, "", dir.path()).await;
        warmed_up(&node, &mut running, &contract).await;
        let snapshot = node.call("evm_snapshot", serde_json::json!([])).await;
        node.send(Some(&contract), &word(1)).await;
        assert_eq!(noted(&next(&mut running.out, 1, node.name).await), vec![("1".to_owned(), false)]);
        node.call("evm_revert", serde_json::json!([snapshot])).await;
        // The new branch must outgrow the old one for the source to see a new head: one block
        // at the same height, and one more.
        node.send(Some(&contract), &word(2)).await;
        node.mine().await;
        let values = next(&mut running.out, 2, node.name).await;
        assert_eq!(noted(&values), vec![("1".to_owned(), true), ("2".to_owned(), false)], "{}", node.name);
        running.pipeline.shutdown_token().cancel();
        running.pipeline.wait().await.expect("stops cleanly");
    }
}

#[tokio::test]
async fn with_enough_confirmations_a_reorganised_block_is_never_emitted() {
    for node in Node::all().await {
        let topic = node.keccak(NOTE).await;
        let contract = node.deploy_logger(&topic).await;
        let dir = tempfile::tempdir().expect("a folder");
        let mut running = start(&node, &contract, "confirmations = 2", dir.path()).await;
        node.send(Some(&contract), &word(999)).await;
        node.mine().await;
        node.mine().await;
        assert_eq!(noted(&next(&mut running.out, 1, node.name).await), vec![("999".to_owned(), false)]);
        reorganise(&node, &contract, 1, 2).await;
        node.send(Some(&contract), &word(3)).await;
        node.mine().await;
        node.mine().await;
        let values = next(&mut running.out, 2, node.name).await;
        assert_eq!(noted(&values), vec![("2".to_owned(), false), ("3".to_owned(), false)], "{}: block 1 never surfaced", node.name);
        running.pipeline.shutdown_token().cancel();
        running.pipeline.wait().await.expect("stops cleanly");
    }
}

#[tokio::test]
async fn a_restart_resumes_after_the_last_acknowledged_block_and_misses_nothing() {
    for node in Node::all().await {
        let topic = node.keccak(NOTE).await;
        let contract = node.deploy_logger(&topic).await;
        let dir = tempfile::tempdir().expect("a folder");
        let state = format!("state_path = \"{}\"", dir.path().join("chain.json").display());
        let mut running = start(&node, &contract, &state, dir.path()).await;
        warmed_up(&node, &mut running, &contract).await;
        node.send(Some(&contract), &word(1)).await;
        assert_eq!(noted(&next(&mut running.out, 1, node.name).await), vec![("1".to_owned(), false)]);
        running.pipeline.shutdown_token().cancel();
        running.pipeline.wait().await.expect("stops cleanly");
        let saved: Value = serde_json::from_slice(&std::fs::read(dir.path().join("chain.json")).expect("a state file")).expect("JSON");
        // While stopped, three more logs, and blocks after them.
        for n in 2..=4 {
            node.send(Some(&contract), &word(n)).await;
        }
        node.mine().await;
        let mut running = start(&node, &contract, &state, dir.path()).await;
        let values = next(&mut running.out, 3, node.name).await;
        assert_eq!(
            noted(&values),
            (2..=4).map(|n| (n.to_string(), false)).collect::<Vec<_>>(),
            "{}: resumed after block {}",
            node.name,
            saved["number"]
        );
        running.pipeline.shutdown_token().cancel();
        running.pipeline.wait().await.expect("stops cleanly");
    }
}

#[tokio::test]
async fn a_node_on_another_chain_stops_the_source_with_an_error_naming_both() {
    for node in Node::all().await {
        let dir = tempfile::tempdir().expect("a folder");
        let running = start(&node, "0x0000000000000000000000000000000000000001", "chain_id = 1", dir.path()).await;
        let error = tokio::time::timeout(Duration::from_secs(30), running.pipeline.wait()).await.expect("ends").expect_err("fails");
        let text = error.to_string();
        assert!(text.contains("the node is on chain") && text.contains("`chain_id` = 1") && text.contains("chain"), "{}: {text}", node.name);
    }
}

#[tokio::test]
async fn logs_sent_while_the_connection_is_down_are_read_after_reconnecting() {
    for node in Node::all().await {
        let topic = node.keccak(NOTE).await;
        let contract = node.deploy_logger(&topic).await;
        let proxy = proxy::Proxy::start(node.http.trim_start_matches("http://").to_owned()).await;
        let dir = tempfile::tempdir().expect("a folder");
        let from = node::quantity(&node.call("eth_blockNumber", serde_json::json!([])).await) + 1;
        let mut running = start_at(&format!("ws://{}", proxy.addr), &contract, &format!("from_block = {from}"), dir.path()).await;
        warmed_up(&node, &mut running, &contract).await;
        let mut seen = Vec::new();
        for round in 0..3_u64 {
            proxy.cut();
            // Logs keep coming while the source is cut off and reconnecting.
            for n in 0..3 {
                node.send(Some(&contract), &word(round * 10 + n)).await;
            }
            seen.extend(noted(&next(&mut running.out, 3, node.name).await));
        }
        let expected: Vec<(String, bool)> = (0..3_u64).flat_map(|r| (0..3).map(move |n| ((r * 10 + n).to_string(), false))).collect();
        assert_eq!(seen, expected, "{}: nothing missed, nothing twice", node.name);
        running.pipeline.shutdown_token().cancel();
        running.pipeline.wait().await.expect("stops cleanly");
    }
}

#[tokio::test]
async fn the_car_leasing_pipeline_posts_a_notice_per_confirmed_transfer() {
    for node in Node::all().await {
        let topic = node.keccak("Transfer(address,address,uint256)").await;
        let contract = node.deploy_logger(&topic).await;
        let chain_id = node::quantity(&node.call("eth_chainId", serde_json::json!([])).await);
        let from = node::quantity(&node.call("eth_blockNumber", serde_json::json!([])).await) + 1;
        let (insurer, mut notices) = crate::support::webhook("/api/leases").await;
        let dir = tempfile::tempdir().expect("a folder");
        let file = crate::support::root().join("pipelines/car-leasing-ethereum.toml");
        let text = std::fs::read_to_string(&file).expect("the pipeline");
        let (url, leasing) = (node.ws(), contract.clone());
        let env = |name: &str| -> Option<String> {
            match name {
                "ETH_URL" => Some(url.clone()),
                "LEASING_CONTRACT" => Some(leasing.clone()),
                "CHAIN_ID" => Some(chain_id.to_string()),
                "LEASES_FROM_BLOCK" => Some(from.to_string()),
                "INSURER_URL" => Some(format!("http://{insurer}/api/leases")),
                "LEASES_STATE" => Some(dir.path().join("leases.json").display().to_string()),
                "RECORDS" => Some(dir.path().join("records.ndjson").display().to_string()),
                "UNDELIVERED" => Some(dir.path().join("undelivered.ndjson").display().to_string()),
                _ => None,
            }
        };
        let running = runnel::Pipeline::parse(&text, Some(file), &runnel::registry(), env).expect("valid").start().await.expect("starts");
        // Lessor 0x…aa leases cars 1 to 3 to lessees 0x…b1 to 0x…b3.
        let address = |n: u64| format!("{:0>64}", format!("{n:x}"));
        for car in 1..=3_u64 {
            node.send(Some(&contract), &format!("0x{}{}{}", address(0xaa), address(0xb0 + car), address(car))).await;
        }
        node.mine().await;
        node.mine().await;
        let mut received = Vec::new();
        while received.len() < 3 {
            let (notice, signed) = tokio::time::timeout(Duration::from_secs(30), notices.recv()).await.expect("in time").expect("a notice");
            assert!(signed, "{}: signed notices", node.name);
            received.push(notice);
        }
        let cars: Vec<&str> = received.iter().map(|n| n["car"].as_str().expect("a car")).collect();
        assert_eq!(cars, ["1", "2", "3"], "{}", node.name);
        assert_eq!(received[0]["lessee"], "0x00000000000000000000000000000000000000B1", "checksummed");
        assert_eq!(received[0]["previous_owner"], "0x00000000000000000000000000000000000000AA");
        running.shutdown_token().cancel();
        running.wait().await.expect("stops cleanly");
        let records = std::fs::read_to_string(dir.path().join("records.ndjson")).expect("records");
        assert_eq!(records.lines().count(), 3, "{records}");
    }
}
