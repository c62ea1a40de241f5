//! [`KinesisSourceConfig`]: which stream, on which endpoint, with which credentials, and where a
//! first start begins.

use std::path::PathBuf;

use serde::Deserialize;

/// Where a first start begins on each shard, as Lambda's `StartingPosition`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record still kept.
    #[default]
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    /// Only records put after the source started.
    #[serde(rename = "LATEST")]
    Latest,
    /// The first record that arrived at or after `starting_position_timestamp`.
    #[serde(rename = "AT_TIMESTAMP")]
    AtTimestamp,
}

/// An access key, for endpoints that check signatures.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    /// The access key id (`AKIA…`).
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for CredentialsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsConfig").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// The `kinesis` source: reads every shard of a Kinesis stream (AWS's, or any endpoint that
/// speaks its API: kinesalite, LocalStack, runnel's `kinesis_server`), follows resharding, and
/// checkpoints what was acknowledged downstream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSourceConfig {
    /// The stream's name.
    pub stream: String,
    /// The AWS region; `AWS_REGION` (or `AWS_DEFAULT_REGION`), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// The endpoint URL; `AWS_ENDPOINT_URL_KINESIS` or `AWS_ENDPOINT_URL`, else AWS's for the
    /// region (`https://kinesis.<region>.amazonaws.com`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The key that signs requests; `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` when absent. Without either, requests are signed with a placeholder
    /// key, which local endpoints accept.
    #[serde(default)]
    pub credentials: Option<CredentialsConfig>,
    /// The account id in the records' `eventSourceARN`.
    #[serde(default = "default_account")]
    pub account_id: String,
    /// Where a shard without a checkpoint begins: `"TRIM_HORIZON"` (the default), `"LATEST"` or
    /// `"AT_TIMESTAMP"`. Shards created by resharding after the source started always begin at
    /// their first record.
    #[serde(default)]
    pub starting_position: StartingPosition,
    /// With `AT_TIMESTAMP`: Unix seconds (a float, as Lambda's `StartingPositionTimestamp`).
    #[serde(default)]
    pub starting_position_timestamp: Option<f64>,
    /// At most this many records per `GetRecords` call (1 to 10,000).
    #[serde(default = "default_limit")]
    pub max_records_per_call: u32,
    /// How long a caught-up shard waits before it asks again, in ms. Lambda polls each shard
    /// about once a second.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// How often the shard list is read again to find shards that resharding created, in ms.
    #[serde(default = "default_discovery_interval")]
    pub shard_discovery_interval_ms: u64,
    /// How often the checkpoints are written while records are acknowledged, in ms.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_ms: u64,
    /// How long one request may take before it is abandoned and tried again, in ms.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// The checkpoints file; by default `<name>.kinesis.json` in the pipeline's state folder.
    #[serde(default)]
    pub state_path: Option<PathBuf>,
}

fn default_account() -> String {
    "000000000000".into()
}

fn default_limit() -> u32 {
    10_000
}

fn default_poll_interval() -> u64 {
    1_000
}

fn default_discovery_interval() -> u64 {
    10_000
}

fn default_checkpoint_interval() -> u64 {
    1_000
}

fn default_request_timeout() -> u64 {
    10_000
}

impl KinesisSourceConfig {
    /// Every problem with the settings.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.stream.is_empty() || self.stream.len() > 128 {
            problems.push("`stream` must be 1 to 128 characters long".into());
        }
        if !(1..=10_000).contains(&self.max_records_per_call) {
            problems.push(format!("`max_records_per_call` must be 1 to 10000, not {}", self.max_records_per_call));
        }
        match (self.starting_position, self.starting_position_timestamp) {
            (StartingPosition::AtTimestamp, None) => {
                problems.push("`starting_position_timestamp` is required with `starting_position = \"AT_TIMESTAMP\"`".into());
            }
            (StartingPosition::AtTimestamp, Some(at)) if !at.is_finite() || at < 0.0 => {
                problems.push(format!("`starting_position_timestamp` must be Unix seconds, not {at}"));
            }
            (StartingPosition::TrimHorizon | StartingPosition::Latest, Some(_)) => {
                problems.push("`starting_position_timestamp` only applies with `starting_position = \"AT_TIMESTAMP\"`".into());
            }
            _ => {}
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push(format!("`endpoint` must be an http:// or https:// URL, not `{endpoint}`"));
        }
        for (field, value) in [
            ("poll_interval_ms", self.poll_interval_ms),
            ("shard_discovery_interval_ms", self.shard_discovery_interval_ms),
            ("checkpoint_interval_ms", self.checkpoint_interval_ms),
            ("request_timeout_ms", self.request_timeout_ms),
        ] {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        problems
    }

    /// The region: the configured one, the environment's, or `us-east-1`.
    pub(crate) fn region(&self) -> String {
        self.region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into())
    }

    /// The endpoint: the configured one, the environment's, or AWS's for `region`.
    pub(crate) fn endpoint(&self, region: &str) -> String {
        self.endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_KINESIS").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .unwrap_or_else(|| format!("https://kinesis.{region}.amazonaws.com"))
    }

    /// The signing key: the configured one, the environment's, or a placeholder.
    pub(crate) fn keys(&self) -> crate::kinesis::sigv4::Keys {
        use crate::kinesis::sigv4::Keys;
        match &self.credentials {
            Some(c) => Keys::new(&c.access_key_id, &c.secret_access_key, c.session_token.as_deref()),
            None => match (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
                (Ok(id), Ok(secret)) => Keys::new(&id, &secret, std::env::var("AWS_SESSION_TOKEN").ok().as_deref()),
                _ => Keys::new("runnel", "runnel", None),
            },
        }
    }
}
