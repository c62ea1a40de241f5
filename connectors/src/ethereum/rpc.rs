//! JSON-RPC over one WebSocket connection: requests matched to their answers by `id`, and
//! subscription notifications (`eth_subscription`) handed out in arrival order. Nodes differ in
//! whether an answer or the first notification of a subscription comes first (ganache answers
//! first, hardhat notifies first), so both are demultiplexed by their shape, never by order.

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::websocket::config::KeepaliveConfig;
use crate::websocket::connect::{Liveness, Tick, WsStream};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The node answered with a JSON-RPC error.
    #[error("the node answered `{method}` with error {code}: {message}")]
    Node {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The connection closed or failed before the answer.
    #[error("the connection was lost")]
    Lost,
    /// No answer in time.
    #[error("no answer to `{method}` within {timeout:?}")]
    Timeout {
        /// The method called.
        method: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The answer is not what the method returns.
    #[error("unexpected answer to `{method}`: {reason}")]
    Malformed {
        /// The method called.
        method: String,
        /// What is wrong.
        reason: String,
    },
}

/// A notification of a subscription: its id and its `result`.
pub(crate) type Notification = (String, Value);

#[derive(Debug)]
struct Call {
    method: String,
    params: Value,
    answer: oneshot::Sender<Result<Value, RpcError>>,
}

/// The calling side of a connection; the connection's task runs while a handle lives.
#[derive(Clone, Debug)]
pub(crate) struct Rpc {
    calls: mpsc::Sender<Call>,
    timeout: Duration,
}

impl Rpc {
    /// Starts the connection's task on `stream`: returns the handle for calls, the
    /// notifications, and the task, which ends when the connection does (a frame that is not
    /// JSON-RPC is logged and skipped).
    pub(crate) fn start(
        stream: WsStream,
        timeout: Duration,
        keepalive: KeepaliveConfig,
        source: &str,
    ) -> (Self, mpsc::Receiver<Notification>, tokio::task::JoinHandle<()>) {
        let (calls, requests) = mpsc::channel(64);
        let (notify, notifications) = mpsc::channel(1024);
        let task = tokio::spawn(run(stream, requests, notify, Liveness::new(keepalive), source.to_owned()));
        (Self { calls, timeout }, notifications, task)
    }

    /// Calls `method` with `params`, waiting for its answer.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let (answer, answered) = oneshot::channel();
        let call = Call { method: method.to_owned(), params, answer };
        self.calls.send(call).await.map_err(|_| RpcError::Lost)?;
        match tokio::time::timeout(self.timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(RpcError::Lost),
            Err(_) => Err(RpcError::Timeout { method: method.to_owned(), timeout: self.timeout }),
        }
    }
}

async fn run(stream: WsStream, mut requests: mpsc::Receiver<Call>, notify: mpsc::Sender<Notification>, mut liveness: Liveness, source: String) {
    let (mut write, mut read) = stream.split();
    let mut pending: HashMap<u64, (String, oneshot::Sender<Result<Value, RpcError>>)> = HashMap::new();
    let mut next_id = 1_u64;
    loop {
        tokio::select! {
            call = requests.recv() => {
                let Some(call) = call else { break };
                let id = next_id;
                next_id += 1;
                let text = json!({"jsonrpc": "2.0", "id": id, "method": call.method, "params": call.params}).to_string();
                if write.send(Frame::text(text)).await.is_err() {
                    let _ = call.answer.send(Err(RpcError::Lost));
                    break;
                }
                pending.insert(id, (call.method, call.answer));
            }
            tick = liveness.tick() => match tick {
                Tick::Ping => {
                    if write.send(Frame::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
                Tick::Dead => {
                    tracing::warn!(%source, "the node did not answer a ping in time");
                    break;
                }
            },
            frame = read.next() => {
                liveness.seen();
                let text = match frame {
                    Some(Ok(Frame::Text(text))) => text,
                    Some(Ok(Frame::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => text.into(),
                        Err(_) => {
                            tracing::warn!(%source, bytes = bytes.len(), "a binary frame that is not UTF-8 was skipped");
                            continue;
                        }
                    },
                    Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(mut value) = serde_json::from_str::<Value>(&text) else {
                    tracing::warn!(%source, frame = %excerpt(&text), "a frame that is not JSON was skipped");
                    continue;
                };
                if value.get("method").and_then(Value::as_str) == Some("eth_subscription") {
                    let params = &mut value["params"];
                    let (Some(id), Some(result)) = (params["subscription"].as_str().map(str::to_owned), params.get_mut("result").map(Value::take)) else {
                        tracing::warn!(%source, frame = %excerpt(&text), "a notification without `subscription` or `result` was skipped");
                        continue;
                    };
                    if notify.send((id, result)).await.is_err() {
                        break;
                    }
                    continue;
                }
                let Some((method, answer)) = value.get("id").and_then(Value::as_u64).and_then(|id| pending.remove(&id)) else {
                    tracing::warn!(%source, frame = %excerpt(&text), "an answer to no call was skipped");
                    continue;
                };
                let _ = answer.send(outcome(method, &mut value, &text));
            }
        }
    }
    for (_, (_, answer)) in pending {
        let _ = answer.send(Err(RpcError::Lost));
    }
}

/// What an answer to `method` says: its `result`, or its `error`.
fn outcome(method: String, answer: &mut Value, text: &str) -> Result<Value, RpcError> {
    if let Some(error) = answer.get("error") {
        return Err(match (error["code"].as_i64(), error["message"].as_str()) {
            (Some(code), Some(message)) => RpcError::Node { method, code, message: message.to_owned() },
            _ => RpcError::Malformed { method, reason: format!("an `error` without a code and a message: {}", excerpt(text)) },
        });
    }
    match answer.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(RpcError::Malformed { method, reason: format!("an answer with neither `result` nor `error`: {}", excerpt(text)) }),
    }
}

/// The start of a frame, for a log line.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A quantity (`"0x1b4"`) as a number.
pub(crate) fn quantity(value: &Value) -> Option<u64> {
    u64::from_str_radix(value.as_str()?.strip_prefix("0x")?, 16).ok()
}
