//! The `kinesis` source: a Kinesis consumer. It reads every shard of a stream, follows
//! resharding (a child shard starts once its parents are finished), emits each record as
//! Lambda's Kinesis event record, and checkpoints per shard the sequence number below which
//! everything was acknowledged downstream, from which a restart resumes.

mod client;
pub mod config;
mod lineage;
pub mod metrics;
pub mod source;

use std::time::Duration;

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, async_trait};

pub use config::{CredentialsConfig, KinesisSourceConfig, StartingPosition};

impl Component for KinesisSourceConfig {
    const TYPE: &'static str = "kinesis";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str =
        "Kinesis stream consumer (AWS or any endpoint with its API): every shard, resharding followed, acknowledged checkpoints per shard.";
    const EXAMPLE: &'static str = r#"stream = "chat"
endpoint = "http://127.0.0.1:4567"
region = "us-east-1"
starting_position = "TRIM_HORIZON""#;
}

#[async_trait]
impl BlockConfig for KinesisSourceConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    fn resources(&self) -> Vec<Resource> {
        // Two sources writing one checkpoints file would undo each other's progress.
        self.state_path.iter().map(|path| Resource::path("state file", path)).collect()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let region = self.region();
        let endpoint = self.endpoint(&region);
        let client =
            client::Client::new(&endpoint, &region, self.keys(), Duration::from_millis(self.request_timeout_ms)).map_err(BuildError::Invalid)?;
        let state = match &self.state_path {
            Some(path) => Some(cx.resolve(path)),
            None => cx.state_dir.as_ref().map(|dir| dir.join(format!("{}.kinesis.json", cx.name))),
        };
        let settings = source::Settings {
            stream: self.stream.clone(),
            region,
            account: self.account_id.clone(),
            starting: self.starting_position,
            timestamp: self.starting_position_timestamp,
            limit: self.max_records_per_call,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            discovery_interval: Duration::from_millis(self.shard_discovery_interval_ms),
            checkpoint_interval: Duration::from_millis(self.checkpoint_interval_ms),
        };
        let metrics = metrics::ConsumerMetrics::register(&cx.metrics, &cx.name);
        Ok(BuiltBlock::Task(Box::new(source::KinesisSource { client, settings, state, metrics })))
    }
}
