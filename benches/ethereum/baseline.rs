//! The hand-written baseline: one tokio-tungstenite connection asking for each block's logs
//! (`eth_getLogs` by block hash) with 16 requests in flight, decoding every log with alloy's
//! dynamic ABI into the same JSON the source emits (`event`, `args` with checksummed addresses
//! and decimal integers). What an expert writes to pull decoded events from a node, tuned.

use std::collections::VecDeque;
use std::net::SocketAddr;

use alloy_dyn_abi::{DynSolValue, EventExt};
use alloy_json_abi::Event;
use alloy_primitives::B256;
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;

const IN_FLIGHT: u64 = 16;

fn to_json(value: &DynSolValue) -> Value {
    match value {
        DynSolValue::Address(a) => Value::String(a.to_checksum(None)),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        other => Value::String(format!("{other:?}")),
    }
}

fn decode(event: &Event, mut log: Value) -> Value {
    let topics: Vec<B256> = log["topics"].as_array().expect("topics").iter().map(|t| t.as_str().expect("hex").parse().expect("a topic")).collect();
    let data = hex::decode(log["data"].as_str().expect("data").trim_start_matches("0x")).expect("hex");
    let decoded = event.decode_log_parts(topics, &data).expect("decodes");
    let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
    let mut args = Map::new();
    for input in &event.inputs {
        let value = if input.indexed { indexed.next() } else { body.next() };
        args.insert(input.name.clone(), value.map_or(Value::Null, |v| to_json(&v)));
    }
    log["event"] = json!(event.name);
    log["args"] = Value::Object(args);
    log
}

/// Reads every log of blocks 1 to `blocks`, decoded; returns how many.
pub(crate) async fn run(addr: SocketAddr, blocks: u64, event: &Event) -> u64 {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await.expect("connects");
    let (mut write, mut read) = ws.split();
    let (mut next, mut waiting, mut count) = (1_u64, VecDeque::new(), 0_u64);
    while next <= blocks || !waiting.is_empty() {
        while next <= blocks && (waiting.len() as u64) < IN_FLIGHT {
            let request =
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{next},\"method\":\"eth_getLogs\",\"params\":[{{\"blockHash\":\"0x{:064x}\"}}]}}", next + 1);
            write.send(Frame::text(request)).await.expect("sends");
            waiting.push_back(next);
            next += 1;
        }
        let Some(Ok(Frame::Text(text))) = read.next().await else { panic!("the node closed") };
        let mut answer: Value = serde_json::from_str(&text).expect("JSON");
        waiting.pop_front();
        let Value::Array(logs) = answer["result"].take() else { panic!("logs") };
        for log in logs {
            std::hint::black_box(decode(event, log));
            count += 1;
        }
    }
    count
}
