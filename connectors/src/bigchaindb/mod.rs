//! The `bigchaindb` source: a BigchainDB node's valid transactions, read in height order through
//! the HTTP API whenever the event stream announces a block, so that reconnections and restarts
//! leave no gap.
//!
//! - [`config`]: the configuration, [`BigchainDbSourceConfig`].
//! - [`source`]: the running source.

pub mod config;
pub mod source;

use std::time::Duration;

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, async_trait};

pub use config::{BigchainDbSourceConfig, Operation};

impl Component for BigchainDbSourceConfig {
    const TYPE: &'static str = "bigchaindb";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str =
        "BigchainDB node: valid transactions in height order (event stream as doorbell, HTTP API as record), filtered, resumed without gaps.";
    const EXAMPLE: &'static str = r#"url = "http://127.0.0.1:9984"
stream_url = "ws://127.0.0.1:9985/api/v1/streams/valid_transactions"
operations = ["TRANSFER"]"#;
}

#[async_trait]
impl BlockConfig for BigchainDbSourceConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    fn resources(&self) -> Vec<Resource> {
        self.state_path.iter().map(|path| Resource::path("state file", path)).collect()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let timeout = Duration::from_millis(self.request_timeout_ms);
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| BuildError::Other(Box::new(e)))?;
        let api = self.url.trim_end_matches('/').to_owned();
        let stream_url = match &self.stream_url {
            Some(url) => url.clone(),
            None => discover(&client, &api).await.map_err(|e| BuildError::Invalid(format!("{e}; set `stream_url`")))?,
        };
        let endpoint = self.connection(&stream_url).endpoint(|p| cx.resolve(p)).map_err(|e| BuildError::Other(Box::new(e)))?;
        let state = match &self.state_path {
            Some(path) => Some(cx.resolve(path)),
            None => cx.state_dir.as_ref().map(|dir| dir.join(format!("{}.bigchaindb.json", cx.name))),
        };
        let settings = source::Settings {
            api,
            fetch: self.fetch,
            operations: self.operations.clone(),
            asset_ids: self.asset_ids.clone(),
            condition: self.condition.clone(),
            from_height: self.from_height,
            reconnect: self.reconnect,
            keepalive: self.keepalive,
        };
        Ok(BuiltBlock::task(source::BigchainDbSource { endpoint, client, settings, state }))
    }
}

/// The stream's URL, from `GET <api>/api/v1/`'s `streams`.
async fn discover(client: &reqwest::Client, api: &str) -> Result<String, String> {
    let url = format!("{api}/api/v1/");
    let answer = client.get(&url).send().await.map_err(|e| format!("cannot ask {url} for the event stream: {e}"))?;
    let body = answer.bytes().await.map_err(|e| format!("cannot read {url}: {e}"))?;
    let root: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("{url} did not answer JSON: {e}"))?;
    root["streams"].as_str().map(str::to_owned).ok_or_else(|| format!("{url} names no `streams`"))
}
