//! The `ethereum` source: a node's blocks or event logs over JSON-RPC on a WebSocket
//! (`eth_subscribe` to new heads), with confirmations, reorganisations retracted, and resume
//! after reconnections and restarts.
//!
//! - [`config`]: the configuration, [`EthereumSourceConfig`].
//! - `rpc`: requests and subscription notifications on one connection.
//! - `chain`: the window of recent headers: what a new branch retracts and what it makes deep
//!   enough to emit.
//! - `abi`: event logs decoded with a JSON ABI.
//! - `state`: the state file, the last block finished.
//! - [`source`]: the running source.
//! - [`metrics`]: the `runnel_ethereum_*` families.

mod abi;
mod chain;
pub mod config;
pub mod metrics;
mod rpc;
pub mod source;
mod state;

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, async_trait};
use serde_json::{Map, Value};

pub use config::{EthereumSourceConfig, FromBlock, Kind};
pub use rpc::RpcError;

impl Component for EthereumSourceConfig {
    const TYPE: &'static str = "ethereum";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str =
        "Ethereum node over WebSocket JSON-RPC: event logs (ABI-decoded) or block headers, with confirmations, reorg retractions and resume.";
    const EXAMPLE: &'static str = r#"url = "ws://127.0.0.1:8545"
address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
confirmations = 2"#;
}

#[async_trait]
impl BlockConfig for EthereumSourceConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    fn resources(&self) -> Vec<Resource> {
        // Two sources writing one state file would undo each other's progress.
        self.state_path.iter().map(|path| Resource::path("state file", path)).collect()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let endpoint = self.connection().endpoint(|p| cx.resolve(p)).map_err(|e| BuildError::Other(Box::new(e)))?;
        let abi = match &self.abi {
            Some(path) => {
                let path = cx.resolve(path);
                let text = std::fs::read_to_string(&path).map_err(|e| BuildError::Invalid(format!("cannot read `abi` {}: {e}", path.display())))?;
                Some(abi::Abi::parse(&text).map_err(|e| BuildError::Invalid(format!("`abi` {}: {e}", path.display())))?)
            }
            None => None,
        };
        let mut filter = Map::new();
        if let Some(address) = &self.address {
            filter.insert("address".into(), address.clone());
        }
        if let Some(topics) = &self.topics {
            filter.insert("topics".into(), Value::Array(topics.clone()));
        }
        let state = match &self.state_path {
            Some(path) => Some(cx.resolve(path)),
            None => cx.state_dir.as_ref().map(|dir| dir.join(format!("{}.ethereum.json", cx.name))),
        };
        let settings = source::Settings {
            kind: self.kind,
            filter,
            abi,
            confirmations: self.confirmations,
            window: self.reorg_window.max(usize::try_from(self.confirmations).unwrap_or(usize::MAX).saturating_add(1)),
            from_block: self.from_block.clone(),
            chain_id: self.chain_id,
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            reconnect: self.reconnect,
            keepalive: self.keepalive,
        };
        let metrics = metrics::ChainMetrics::register(&cx.metrics, &cx.name);
        Ok(BuiltBlock::task(source::EthereumSource { endpoint, settings, state: state.map(state::StateFile::new), metrics }))
    }
}
