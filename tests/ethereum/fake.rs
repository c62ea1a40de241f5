//! A scripted fake Ethereum node (JSON-RPC over a WebSocket), for bad input only: real nodes
//! never send malformed frames, answers of the wrong shape or errors on purpose, so the tests
//! that need them talk to this instead. It serves a straight chain whose block `n` holds one
//! `Note(uint256)` log of value `n`, answers the calls the source makes (`eth_chainId`,
//! `eth_subscribe`, `eth_getBlockByNumber`, `eth_getBlockByHash`, `eth_getLogs` by block
//! hash), and, on the test's command, announces heads, injects raw frames, and answers a
//! given call for a given block from a script before answering it normally.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as Frame;

/// A scripted reply: the JSON after `"id":N,` (`"error":{...}`, `"result":...`, or nothing),
/// or, with [`RAW`] in front, a frame sent as it is in place of the answer.
pub(super) type Reply = &'static str;

/// Marks a [`Reply`] sent as a raw frame.
pub(super) const RAW: &str = "RAW:";

/// The hash of block `n`.
pub(super) fn hash(n: u64) -> String {
    format!("0x{:064x}", 0xb10c_0000 + n)
}

pub(super) fn header(n: u64) -> Value {
    json!({"number": format!("0x{n:x}"), "hash": hash(n), "parentHash": hash(n.wrapping_sub(1)), "timestamp": "0x65000000"})
}

#[derive(Default)]
struct Script {
    head: u64,
    /// Replies to give, by method and block number, before the normal answers.
    replies: HashMap<(String, u64), VecDeque<Reply>>,
}

pub(super) struct FakeNode {
    pub(super) addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    frames: broadcast::Sender<String>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeNode {
    /// Serves a chain whose head is `head`, on a free port.
    pub(super) async fn start(head: u64, note_topic: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("an address");
        let script = Arc::new(Mutex::new(Script { head, ..Script::default() }));
        let (frames, _) = broadcast::channel(64);
        let (shared, pushed, topic) = (Arc::clone(&script), frames.clone(), note_topic.to_owned());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (script, pushed, topic) = (Arc::clone(&shared), pushed.subscribe(), topic.clone());
                tokio::spawn(serve(tcp, script, pushed, topic));
            }
        });
        Self { addr, script, frames, task }
    }

    pub(super) fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Answers `method` for block `block` with `replies`, one per call, before answering
    /// normally.
    pub(super) fn script(&self, method: &str, block: u64, replies: &[Reply]) {
        self.script.lock().expect("the script").replies.entry((method.to_owned(), block)).or_default().extend(replies);
    }

    /// Moves the head to `n` and announces it to the subscribers.
    pub(super) fn announce(&self, n: u64) {
        self.script.lock().expect("the script").head = n;
        self.inject(&json!({"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": "0x1", "result": header(n)}}).to_string());
    }

    /// Sends `frame` as it is to every connection.
    pub(super) fn inject(&self, frame: &str) {
        let _ = self.frames.send(frame.to_owned());
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(tcp: tokio::net::TcpStream, script: Arc<Mutex<Script>>, mut pushed: broadcast::Receiver<String>, topic: String) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    let (mut write, mut read) = ws.split();
    loop {
        let frame = tokio::select! {
            frame = pushed.recv() => match frame {
                Ok(frame) => frame,
                Err(_) => return,
            },
            request = read.next() => {
                let Some(Ok(Frame::Text(text))) = request else { return };
                let request: Value = serde_json::from_str(&text).expect("the source sends JSON-RPC");
                answer(&request, &script, &topic)
            }
        };
        if write.send(Frame::text(frame)).await.is_err() {
            return;
        }
    }
}

/// The frame answering `request`: scripted, or what a node would answer.
fn answer(request: &Value, script: &Mutex<Script>, topic: &str) -> String {
    let (id, method, params) = (&request["id"], request["method"].as_str().unwrap_or_default(), &request["params"]);
    let mut script = script.lock().expect("the script");
    let by_hash = |hash: &Value| hash.as_str().and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok()).map(|h| h - 0xb10c_0000);
    let block = match method {
        "eth_getBlockByNumber" => match params[0].as_str() {
            Some("latest") => Some(script.head),
            Some(number) => u64::from_str_radix(number.trim_start_matches("0x"), 16).ok(),
            None => None,
        },
        "eth_getBlockByHash" => by_hash(&params[0]),
        "eth_getLogs" => by_hash(&params[0]["blockHash"]),
        _ => None,
    };
    if let Some(reply) = block.and_then(|n| script.replies.get_mut(&(method.to_owned(), n))).and_then(VecDeque::pop_front) {
        return match reply.strip_prefix(RAW) {
            Some(raw) => raw.to_owned(),
            None if reply.is_empty() => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id}}}"),
            None => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},{reply}}}"),
        };
    }
    let known = block.filter(|n| *n <= script.head);
    let result = match method {
        "eth_chainId" => json!("0x539"),
        "eth_subscribe" => json!("0x1"),
        "eth_getBlockByNumber" | "eth_getBlockByHash" => known.map_or(Value::Null, header),
        "eth_getLogs" => match known {
            Some(n) if n > 0 => json!([{
                "address": "0x00000000000000000000000000000000000000aa",
                "topics": [topic],
                "data": format!("0x{n:064x}"),
                "blockNumber": format!("0x{n:x}"),
                "blockHash": hash(n),
                "transactionHash": format!("0x{:064x}", 0x7a00 + n),
                "transactionIndex": "0x0",
                "logIndex": "0x0",
                "removed": false
            }]),
            _ => json!([]),
        },
        other => return json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("{other} is not served")}}).to_string(),
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}
