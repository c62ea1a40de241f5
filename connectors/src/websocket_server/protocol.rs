//! The frames between clients and the server.
//!
//! A client sends JSON requests: `{"op": "subscribe", "channel": "..."}`, `{"op": "unsubscribe",
//! "channel": "..."}` and `{"op": "publish", "channel": "...", "data": ...}`; any other JSON value
//! is published to the server's `default_channel`, if it has one. The server sends
//! `{"op": "welcome", "client_id": ..., "user": ..., "private_channel": ...}` first,
//! `{"op": "subscribed", "channel": ..., "history": n}` before a channel's history,
//! `{"op": "error", "error": ...}` for a request it refused, and delivered messages as
//! `{"channel": ..., "data": ...}` (with `"history": true` when replayed), or bare with
//! `envelope = false`.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use runnel_engine::ExactNumbers;
use serde_json::{Value, json};

/// A client's request, parsed.
#[derive(Debug, PartialEq)]
pub(crate) enum Request {
    Subscribe(String),
    Unsubscribe(String),
    /// `exact`: the frame's number literals a float does not hold (see `crate::numbers`).
    Publish {
        channel: Option<String>,
        data: Value,
        exact: Option<Arc<ExactNumbers>>,
    },
}

/// Why a frame is not a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadRequest {
    /// Not JSON at all: also an error of the source (its `errors` port).
    NotJson(String),
    /// JSON, but not a request the server understands: only answered to the client.
    Refused(String),
}

/// Parses a client frame.
pub(crate) fn parse(text: &str) -> Result<Request, BadRequest> {
    let (value, exact) = crate::codec::parse_exact(text).map_err(BadRequest::NotJson)?;
    let Some(op) = value.get("op").and_then(Value::as_str) else {
        return Ok(Request::Publish { channel: None, data: value, exact });
    };
    let channel = value.get("channel").and_then(Value::as_str).map(str::to_owned);
    let need_channel = || channel.clone().ok_or_else(|| BadRequest::Refused(format!("`{op}` needs a string `channel`")));
    match op {
        "subscribe" => Ok(Request::Subscribe(need_channel()?)),
        "unsubscribe" => Ok(Request::Unsubscribe(need_channel()?)),
        "publish" => {
            let mut value = value;
            let data = value.get_mut("data").map(Value::take).ok_or_else(|| BadRequest::Refused("`publish` needs `data`".to_owned()))?;
            Ok(Request::Publish { channel, data, exact })
        }
        other => Err(BadRequest::Refused(format!("unknown op `{other}`"))),
    }
}

pub(crate) fn welcome(client_id: &str, user: Option<&str>, private_channel: Option<&str>) -> Utf8Bytes {
    json!({"op": "welcome", "client_id": client_id, "user": user, "private_channel": private_channel}).to_string().into()
}

pub(crate) fn subscribed(channel: &str, history: usize) -> Utf8Bytes {
    json!({"op": "subscribed", "channel": channel, "history": history}).to_string().into()
}

pub(crate) fn unsubscribed(channel: &str) -> Utf8Bytes {
    json!({"op": "unsubscribed", "channel": channel}).to_string().into()
}

pub(crate) fn error(text: &str) -> Utf8Bytes {
    json!({"op": "error", "error": text}).to_string().into()
}

/// A delivered message: `data` is its JSON text, written once and shared by every subscriber.
pub(crate) fn delivery(envelope: bool, channel: &str, data: &str, replayed: bool) -> Utf8Bytes {
    if !envelope {
        return Utf8Bytes::from(data);
    }
    let channel = Value::from(channel).to_string();
    let mut frame = String::with_capacity(data.len() + channel.len() + 40);
    frame.push_str("{\"channel\":");
    frame.push_str(&channel);
    frame.push_str(",\"data\":");
    frame.push_str(data);
    if replayed {
        frame.push_str(",\"history\":true");
    }
    frame.push('}');
    frame.into()
}
