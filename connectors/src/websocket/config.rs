//! Configuration of the `websocket` client source and sink, and the connection settings they
//! share.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::connect::Endpoint;

/// Connects to a WebSocket server and emits each text frame it sends as a message. Its fields
/// are [`ClientConfig`]'s.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct WebSocketSourceConfig(pub ClientConfig);

/// Sends each message to a WebSocket server as one text frame. Its fields are
/// [`ClientConfig`]'s, without `subscribe`.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct WebSocketSinkConfig(pub ClientConfig);

/// A WebSocket client connection: the fields of the `websocket` source and sink.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The server: `ws://host:port/path` or `wss://...` (TLS with rustls and the Mozilla roots).
    pub url: String,
    /// Messages sent after every (re)connection, in order, before reading: subscriptions. A
    /// string is sent as is; anything else as its JSON text. The source's only.
    #[serde(default)]
    pub subscribe: Vec<Value>,
    /// HTTP headers of the opening handshake, such as `Authorization`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A PEM file of extra certificate authorities to trust for `wss://` (a private CA).
    pub ca_file: Option<PathBuf>,
    /// The largest message accepted from the server, in bytes; a larger one drops the connection.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How long one connection attempt may take, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How reconnections are spaced.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// How a quiet connection is checked.
    #[serde(default)]
    pub keepalive: KeepaliveConfig,
}

impl std::ops::Deref for WebSocketSourceConfig {
    type Target = ClientConfig;

    fn deref(&self) -> &ClientConfig {
        &self.0
    }
}

impl std::ops::Deref for WebSocketSinkConfig {
    type Target = ClientConfig;

    fn deref(&self) -> &ClientConfig {
        &self.0
    }
}

/// Exponential backoff with jitter between connection attempts: each failed attempt doubles
/// the delay up to `max_ms`, and each delay is drawn between half and all of it, so that many
/// clients of a restarted server do not reconnect in lockstep.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectConfig {
    /// The first delay after a lost connection, in milliseconds.
    #[serde(default = "default_initial_ms")]
    pub initial_ms: u64,
    /// The longest delay, in milliseconds.
    #[serde(default = "default_max_ms")]
    pub max_ms: u64,
}

/// Ping/pong keepalive: a connection quiet for `interval_ms` gets a ping, and is dropped (then
/// reconnected) when nothing arrives within `timeout_ms` after it.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveConfig {
    /// Quiet time before a ping, in milliseconds; 0 sends no pings.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// How long to wait for any frame after a ping, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self { initial_ms: default_initial_ms(), max_ms: default_max_ms() }
    }
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        Self { interval_ms: default_interval_ms(), timeout_ms: default_timeout_ms() }
    }
}

fn default_max_message_bytes() -> usize {
    16 << 20
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_initial_ms() -> u64 {
    250
}
fn default_max_ms() -> u64 {
    30_000
}
fn default_interval_ms() -> u64 {
    20_000
}
fn default_timeout_ms() -> u64 {
    10_000
}

/// The settings both client configurations share, borrowed.
#[derive(Debug)]
pub(crate) struct Connection<'a> {
    pub(crate) url: &'a str,
    pub(crate) headers: &'a BTreeMap<String, String>,
    pub(crate) ca_file: Option<&'a std::path::Path>,
    pub(crate) max_message_bytes: usize,
    pub(crate) connect_timeout_ms: u64,
    pub(crate) reconnect: ReconnectConfig,
    pub(crate) keepalive: KeepaliveConfig,
}

impl ClientConfig {
    /// The connection settings, borrowed.
    pub(crate) fn connection(&self) -> Connection<'_> {
        Connection {
            url: &self.url,
            headers: &self.headers,
            ca_file: self.ca_file.as_deref(),
            max_message_bytes: self.max_message_bytes,
            connect_timeout_ms: self.connect_timeout_ms,
            reconnect: self.reconnect,
            keepalive: self.keepalive,
        }
    }
}

impl Connection<'_> {
    /// Every problem with these settings (what `validate` reports).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            problems.push(format!("`url` must start with ws:// or wss://, not `{}`", self.url));
        } else if let Err(error) = self.url.parse::<axum::http::Uri>() {
            problems.push(format!("`url` `{}` is not a valid URL: {error}", self.url));
        }
        for (name, value) in self.headers {
            if axum::http::HeaderName::try_from(name.as_str()).is_err() {
                problems.push(format!("`headers`: `{name}` is not a valid header name"));
            }
            if axum::http::HeaderValue::try_from(value.as_str()).is_err() {
                problems.push(format!("`headers.{name}`: the value is not a valid header value"));
            }
        }
        if self.max_message_bytes == 0 {
            problems.push("`max_message_bytes` must be at least 1".to_owned());
        }
        if self.connect_timeout_ms == 0 {
            problems.push("`connect_timeout_ms` must be at least 1".to_owned());
        }
        if self.reconnect.initial_ms == 0 || self.reconnect.max_ms < self.reconnect.initial_ms {
            problems.push("`reconnect`: `initial_ms` must be at least 1 and at most `max_ms`".to_owned());
        }
        if self.keepalive.interval_ms > 0 && self.keepalive.timeout_ms == 0 {
            problems.push("`keepalive.timeout_ms` must be at least 1".to_owned());
        }
        problems
    }

    /// The endpoint to connect to, with TLS settings loaded (`ca_file` resolved by `resolve`).
    pub(crate) fn endpoint(&self, resolve: impl Fn(&std::path::Path) -> PathBuf) -> Result<Endpoint, super::ConnectError> {
        let ca_file = self.ca_file.map(resolve);
        Endpoint::new(self.url, self.headers, ca_file.as_deref(), self.max_message_bytes, Duration::from_millis(self.connect_timeout_ms))
    }
}
