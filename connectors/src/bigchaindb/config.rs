//! [`BigchainDbSourceConfig`]: which node, which transactions, where the state is kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

use runnel_blocks::JqProgram;
use serde::Deserialize;

use crate::websocket::config::{Connection, KeepaliveConfig, ReconnectConfig};

/// A transaction's operation.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Operation {
    /// Creates an asset.
    #[serde(rename = "CREATE")]
    Create,
    /// Transfers an asset.
    #[serde(rename = "TRANSFER")]
    Transfer,
}

impl Operation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Transfer => "TRANSFER",
        }
    }
}

/// The `bigchaindb` source: a node's valid transactions.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigchainDbSourceConfig {
    /// The node's HTTP API root, `http://host:9984`.
    pub url: String,
    /// The event stream; by default the `streams` URL `GET <url>/api/v1/` gives.
    #[serde(default)]
    pub stream_url: Option<String>,
    /// Each message carries the whole transaction (`transaction`), not only its ids.
    #[serde(default = "yes")]
    pub fetch: bool,
    /// Only transactions of these operations.
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// Only transactions of these assets.
    #[serde(default)]
    pub asset_ids: Vec<String>,
    /// Only messages for which this jq condition is true.
    #[serde(default)]
    pub condition: Option<JqProgram>,
    /// The first height read on a first start (without a state file); by default the height of
    /// the first event after starting.
    #[serde(default)]
    pub from_height: Option<u64>,
    /// The state file (the last height finished). By default `.runnel/<pipeline>/<source>.bigchaindb.json`.
    #[serde(default)]
    pub state_path: Option<PathBuf>,
    /// How long an HTTP request to the node may take, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Handshake headers of the stream.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Delays between reconnection attempts.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// Ping/pong keepalive of the stream.
    #[serde(default)]
    pub keepalive: KeepaliveConfig,
}

fn yes() -> bool {
    true
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

impl BigchainDbSourceConfig {
    /// The stream's connection settings, once its URL is known.
    pub(crate) fn connection<'a>(&'a self, stream_url: &'a str) -> Connection<'a> {
        Connection {
            url: stream_url,
            headers: &self.headers,
            ca_file: None,
            max_message_bytes: 1 << 20,
            connect_timeout_ms: self.request_timeout_ms,
            reconnect: self.reconnect,
            keepalive: self.keepalive,
        }
    }

    /// Every problem with the settings.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) || self.url.parse::<axum::http::Uri>().is_err() {
            problems.push(format!("`url` must be the node's HTTP API, http://host:port, not `{}`", self.url));
        }
        if let Some(stream) = &self.stream_url {
            problems.extend(self.connection(stream).problems().into_iter().map(|p| p.replace("`url`", "`stream_url`")));
        }
        if self.request_timeout_ms == 0 {
            problems.push("`request_timeout_ms` must be at least 1".into());
        }
        for id in &self.asset_ids {
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!("`asset_ids`: `{id}` is not an asset id (64 hex digits)"));
            }
        }
        if self.from_height == Some(0) {
            problems.push("`from_height` starts at 1".into());
        }
        problems
    }
}
