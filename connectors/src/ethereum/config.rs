//! [`EthereumSourceConfig`]: which node, which events, how deep before they are emitted.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::websocket::config::{Connection, KeepaliveConfig, ReconnectConfig};

/// What the source emits.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The event logs of each block that match `address` and `topics`.
    #[default]
    Logs,
    /// Each block's header.
    Heads,
}

/// Where a first start (without a state file) begins.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "Value")]
pub enum FromBlock {
    /// `"latest"`: the node's head when the source starts.
    #[default]
    Latest,
    /// A block number: every block from it on is read first.
    Number(u64),
}

/// The `ethereum` source: JSON-RPC over WebSocket to a node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthereumSourceConfig {
    /// The node's WebSocket endpoint, `ws://` or `wss://`.
    pub url: String,
    /// `"logs"` (the default) or `"heads"`.
    #[serde(default)]
    pub kind: Kind,
    /// Only the logs of these contract addresses (one, or a list).
    #[serde(default)]
    pub address: Option<Value>,
    /// Only the logs whose topics match, as `eth_getLogs` takes them (a list of a topic, a list
    /// of alternatives, or `null` for any, per position).
    #[serde(default)]
    pub topics: Option<Vec<Value>>,
    /// A JSON ABI file: logs of the events it declares are decoded.
    #[serde(default)]
    pub abi: Option<PathBuf>,
    /// How many blocks above a block before it is emitted; 0 emits at once (and retracts on a
    /// reorganisation).
    #[serde(default)]
    pub confirmations: u64,
    /// How many recent blocks are kept to detect reorganisations and retract their events.
    #[serde(default = "default_reorg_window")]
    pub reorg_window: usize,
    /// Where a first start begins: `"latest"` or a block number.
    #[serde(default)]
    pub from_block: FromBlock,
    /// The chain id the node must report (`eth_chainId`); any when unset.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// The state file (the last block finished). By default `.runnel/<pipeline>/<source>.ethereum.json`.
    #[serde(default)]
    pub state_path: Option<PathBuf>,
    /// How long a call to the node may take, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Handshake headers (an API key).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Certificate authorities (PEM) trusted beside the Mozilla roots, for `wss://`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The largest frame accepted, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How long a connection attempt may take, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Delays between reconnection attempts.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// Ping/pong keepalive.
    #[serde(default)]
    pub keepalive: KeepaliveConfig,
}

impl TryFrom<Value> for FromBlock {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        match value {
            Value::String(text) if text == "latest" => Ok(Self::Latest),
            Value::Number(n) if n.as_u64().is_some() => Ok(Self::Number(n.as_u64().unwrap_or_default())),
            other => Err(format!("`from_block` must be \"latest\" or a block number, not {other}")),
        }
    }
}

fn default_reorg_window() -> usize {
    128
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

fn default_max_message_bytes() -> usize {
    64 << 20
}

fn default_connect_timeout_ms() -> u64 {
    10_000
}

impl EthereumSourceConfig {
    /// The connection settings, shared with the WebSocket client.
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

    /// Every problem with the settings.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = self.connection().problems();
        if self.reorg_window == 0 {
            problems.push("`reorg_window` must be at least 1".into());
        }
        if self.confirmations > 10_000 {
            problems.push(format!("`confirmations` = {} is more than 10,000 blocks", self.confirmations));
        }
        if self.request_timeout_ms == 0 {
            problems.push("`request_timeout_ms` must be at least 1".into());
        }
        if self.kind == Kind::Heads && (self.address.is_some() || self.topics.is_some() || self.abi.is_some()) {
            problems.push("`address`, `topics` and `abi` filter logs: they do not apply with `kind = \"heads\"`".into());
        }
        match &self.address {
            None => {}
            Some(Value::String(address)) if is_address(address) => {}
            Some(Value::Array(list)) if !list.is_empty() && list.iter().all(|a| a.as_str().is_some_and(is_address)) => {}
            Some(other) => problems.push(format!("`address` must be a 0x address of 40 hex digits, or a list of them, not {other}")),
        }
        for (index, topic) in self.topics.iter().flatten().enumerate() {
            let ok = match topic {
                Value::Null => true,
                Value::String(t) => is_topic(t),
                Value::Array(list) => list.iter().all(|t| t.as_str().is_some_and(is_topic)),
                _ => false,
            };
            if !ok {
                problems.push(format!("`topics[{index}]` must be null, a 0x topic of 64 hex digits, or a list of them, not {topic}"));
            }
        }
        problems
    }
}

fn is_hex(text: &str, digits: usize) -> bool {
    text.strip_prefix("0x").is_some_and(|hex| hex.len() == digits && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_address(text: &str) -> bool {
    is_hex(text, 40)
}

fn is_topic(text: &str) -> bool {
    is_hex(text, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_block_is_latest_or_a_number() {
        let read = |text: &str| serde_json::from_str::<FromBlock>(text).map_err(|e| e.to_string());
        assert_eq!(read("\"latest\""), Ok(FromBlock::Latest));
        assert_eq!(read("17"), Ok(FromBlock::Number(17)));
        assert!(read("\"earliest\"").expect_err("refused").contains("`from_block` must be \"latest\" or a block number"));
        assert!(read("-1").is_err());
    }
}
