//! A local node replaying recorded blocks at full speed (real nodes mine too slowly to load the
//! source): `blocks` blocks, each with `logs` ERC-20 `Transfer` logs, answered over JSON-RPC on
//! a WebSocket as hardhat answers: `eth_chainId`, `eth_subscribe`, `eth_getBlockByNumber`,
//! `eth_getBlockByHash` and `eth_getLogs` by block hash. The answers are rendered once, before
//! the clock starts, so the node costs little beside the client under test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as Frame;

/// The `Transfer(address,address,uint256)` selector.
pub(crate) const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
pub(crate) const CONTRACT: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

fn hash(n: u64) -> String {
    format!("0x{n:064x}")
}

/// The chain: headers by number and by hash, and each block's logs as a rendered JSON list.
struct Chain {
    by_number: Vec<Value>,
    by_hash: HashMap<String, usize>,
    logs: Vec<Arc<str>>,
}

fn chain(blocks: u64, logs: u64) -> Chain {
    let mut by_number = Vec::new();
    let mut by_hash = HashMap::new();
    let mut rendered = Vec::new();
    for n in 0..=blocks {
        let header =
            json!({"number": format!("0x{n:x}"), "hash": hash(n + 1), "parentHash": hash(n), "timestamp": format!("0x{:x}", 1_700_000_000 + n)});
        by_hash.insert(hash(n + 1), by_number.len());
        by_number.push(header);
        let block_logs: Vec<Value> = (0..if n == 0 { 0 } else { logs })
            .map(|i| {
                json!({
                    "address": CONTRACT,
                    "topics": [TRANSFER, format!("0x{:064x}", 0xaa00 + i), format!("0x{:064x}", 0xbb00 + i)],
                    "data": format!("0x{:064x}", 1_000_000 + n * 1000 + i),
                    "blockNumber": format!("0x{n:x}"),
                    "blockHash": hash(n + 1),
                    "transactionHash": format!("0x{:064x}", n << 20 | i),
                    "transactionIndex": format!("0x{i:x}"),
                    "logIndex": format!("0x{i:x}"),
                    "removed": false
                })
            })
            .collect();
        rendered.push(Arc::from(Value::Array(block_logs).to_string()));
    }
    Chain { by_number, by_hash, logs: rendered }
}

/// Serves the chain on a free port until the process ends.
pub(crate) async fn serve(blocks: u64, logs: u64) -> SocketAddr {
    let chain = Arc::new(chain(blocks, logs));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let chain = Arc::clone(&chain);
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let (mut write, mut read) = ws.split();
                while let Some(Ok(Frame::Text(text))) = read.next().await {
                    let request: Value = serde_json::from_str(&text).expect("JSON-RPC");
                    let id = request["id"].clone();
                    let result = match request["method"].as_str().unwrap_or_default() {
                        "eth_chainId" => "\"0x7a69\"".to_owned(),
                        "eth_subscribe" => "\"0x1\"".to_owned(),
                        "eth_getBlockByNumber" => chain.by_number.last().expect("a head").to_string(),
                        "eth_getBlockByHash" => {
                            let index = request["params"][0].as_str().and_then(|h| chain.by_hash.get(h));
                            index.map_or("null".to_owned(), |i| chain.by_number[*i].to_string())
                        }
                        "eth_getLogs" => {
                            let index = request["params"][0]["blockHash"].as_str().and_then(|h| chain.by_hash.get(h));
                            index.map_or("[]".to_owned(), |i| chain.logs[*i].to_string())
                        }
                        other => panic!("unexpected {other}"),
                    };
                    let answer = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{result}}}");
                    if write.send(Frame::text(answer)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
