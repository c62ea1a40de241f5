//! The Ethereum nodes the tests talk to (hardhat and ganache, started by scripts/test.sh), over
//! HTTP JSON-RPC: deploying a contract from bytecode, sending transactions, snapshots and
//! reverts to make reorganisations. A node is used by one test at a time (snapshots and reverts
//! change the chain under every subscriber).

use std::sync::LazyLock;

use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

/// The nodes' deterministic first accounts, unlocked.
const GANACHE_ACCOUNT: &str = "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1";
const HARDHAT_ACCOUNT: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

static LOCKS: LazyLock<[Mutex<()>; 2]> = LazyLock::new(|| [Mutex::new(()), Mutex::new(())]);

/// One node, held for the test.
pub(super) struct Node {
    pub(super) name: &'static str,
    /// `http://...`; the WebSocket endpoint is the same port.
    pub(super) http: String,
    account: &'static str,
    client: reqwest::Client,
    _held: MutexGuard<'static, ()>,
}

impl Node {
    /// The nodes whose URLs scripts/test.sh exported; none (with a note) outside CI when unset.
    pub(super) async fn all() -> Vec<Node> {
        let mut nodes = Vec::new();
        for (index, (name, variable, account)) in
            [("ganache", "RUNNEL_GANACHE_URL", GANACHE_ACCOUNT), ("hardhat", "RUNNEL_HARDHAT_URL", HARDHAT_ACCOUNT)].into_iter().enumerate()
        {
            let Ok(http) = std::env::var(variable) else {
                assert!(!crate::support::peers_required(), "{variable} is not set: scripts/test.sh starts {name}");
                eprintln!("skipping {name}: {variable} is not set (scripts/test.sh starts it)");
                continue;
            };
            let held = LOCKS[index].lock().await;
            nodes.push(Node { name, http, account, client: reqwest::Client::new(), _held: held });
        }
        nodes
    }

    /// The WebSocket URL of the node.
    pub(super) fn ws(&self) -> String {
        self.http.replacen("http://", "ws://", 1)
    }

    /// Calls `method`; panics on a JSON-RPC error.
    pub(super) async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = self.client.post(&self.http).header("content-type", "application/json").body(body.to_string()).send().await;
        let answer: Value = serde_json::from_slice(&answer.expect("the node answers").bytes().await.expect("a body")).expect("JSON");
        assert!(answer.get("error").is_none(), "{} {method}: {answer}", self.name);
        answer["result"].clone()
    }

    /// keccak-256 of `text`, as the node computes it.
    pub(super) async fn keccak(&self, text: &str) -> String {
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        self.call("web3_sha3", json!([format!("0x{hex}")])).await.as_str().expect("a hash").to_owned()
    }

    /// Sends a transaction (mined at once: both nodes mine each transaction in its own block)
    /// and returns its receipt.
    pub(super) async fn send(&self, to: Option<&str>, data: &str) -> Value {
        let mut transaction = json!({"from": self.account, "data": data, "gas": "0x100000"});
        if let Some(to) = to {
            transaction["to"] = json!(to);
        }
        let hash = self.call("eth_sendTransaction", json!([transaction])).await;
        for _ in 0..500 {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                return receipt;
            }
            tokio::task::yield_now().await;
        }
        panic!("{}: transaction {hash} was not mined", self.name);
    }

    /// Deploys a contract whose every call logs one event with `topic` as its only topic and
    /// the call's data as its data (CALLDATACOPY, LOG1: 44 bytes, no compiler needed).
    pub(super) async fn deploy_logger(&self, topic: &str) -> String {
        let topic = topic.trim_start_matches("0x");
        let code = format!("0x602c600c600039602c6000f3366000600037 7f{topic}366000a100").replace(' ', "");
        let receipt = self.send(None, &code).await;
        receipt["contractAddress"].as_str().expect("a contract address").to_owned()
    }

    /// Mines an empty block.
    pub(super) async fn mine(&self) {
        self.call("evm_mine", json!([])).await;
    }
}

/// A 0x quantity as a number.
pub(super) fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().expect("a quantity").trim_start_matches("0x"), 16).expect("hex")
}

/// `n` as one ABI word of call data.
pub(super) fn word(n: u64) -> String {
    format!("0x{n:064x}")
}
