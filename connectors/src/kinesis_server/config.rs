//! [`KinesisServerConfig`]: the listener, where shards are kept, how they are synced and kept,
//! the streams to create at start, and where the source starts reading on its first run.

use std::path::PathBuf;
use std::time::Duration;

use runnel_engine::{BuildContext, BuildError, ListenerLimits};
use serde::Deserialize;

use super::signature::Credentials;
use super::writer::FsyncPolicy;

/// The `kinesis_server` source: runnel as a Kinesis Data Streams endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisServerConfig {
    /// `host:port` to listen on. Point clients at `http://<address>` (`endpoint_url`, `--endpoint-url`).
    pub address: String,
    /// Where the shard logs are kept. Default: `<state dir>/<node>.kinesis/` (`.runnel/<pipeline>/`
    /// beside the pipeline file); required for a pipeline not read from a file.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Streams created at start if missing (clients may create more with `CreateStream`).
    #[serde(default)]
    pub streams: Vec<StreamConfig>,
    /// When shard logs are synced: `"always"` (once per group commit, before answering: the
    /// default), `"interval"` (every `fsync_interval_ms`) or `"never"` (left to the OS).
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// How often `fsync = "interval"` syncs, in ms (1000 by default).
    #[serde(default = "default_fsync_interval_ms")]
    pub fsync_interval_ms: u64,
    /// How long records are kept, in hours: whole segments older than it are deleted (24 to
    /// 8760; 24 by default, as AWS).
    #[serde(default = "default_retention_hours")]
    pub retention_hours: u32,
    /// Bytes after which a shard starts a new segment file (64 MiB by default).
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Records each shard may have waiting to be written; a put past it is answered
    /// `ProvisionedThroughputExceededException` for that record (10000 by default).
    #[serde(default = "default_max_queued_records")]
    pub max_queued_records: usize,
    /// Shards a stream may have (`CreateStream` past it gets `LimitExceededException`; 64 by default).
    #[serde(default = "default_max_shards")]
    pub max_shards: u32,
    /// Where the source starts reading a stream it has no checkpoint for, on the first run:
    /// `"TRIM_HORIZON"` (the oldest record kept: the default), `"LATEST"` (records put from now
    /// on) or `"AT_TIMESTAMP"` (records that arrived from `starting_timestamp` on).
    #[serde(default)]
    pub starting_position: StartingPosition,
    /// With `AT_TIMESTAMP`: epoch seconds (fractions for ms).
    #[serde(default)]
    pub starting_timestamp: Option<f64>,
    /// When a put is answered: `"stored"` (the default: once its records are in the shard logs,
    /// synced as `fsync` says) or `"delivered"` (once the pipeline delivered them: every sink
    /// they reach acknowledged them, such as a `kafka` sink once the broker has them). A record
    /// not delivered within `delivery_timeout_ms` is answered `InternalFailure` (it stays in the
    /// log and is emitted again after a restart, so a client's retry may deliver it twice).
    #[serde(default)]
    pub ack: AckMode,
    /// With `ack = "delivered"`: how long a put waits for delivery, in ms (30000 by default).
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// Access keys whose SigV4 signatures are accepted: `[{ access_key_id, secret_access_key }]`.
    /// Without any, every request with an `Authorization` header is accepted, whatever its
    /// credentials (as kinesalite).
    #[serde(default)]
    pub credentials: Vec<Credentials>,
    /// The region named in ARNs and records (`us-east-1` by default).
    #[serde(default = "default_region")]
    pub region: String,
    /// The account named in ARNs, records and messages (`000000000000` by default).
    #[serde(default = "default_account")]
    pub account: String,
    /// Request bodies larger than this are refused with 413 (7 MiB by default, as kinesalite).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Connections open at most; more are answered 503 and closed (1024 by default).
    #[serde(default = "default_max_pending_connections")]
    pub max_pending_connections: usize,
    /// Time a client has to send a request head, and the keep-alive idle timeout, in ms (60000).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time a connection may move no byte before it is closed, in ms (60000).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
}

/// A stream created at start if missing.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Its name (1..128 of `[a-zA-Z0-9_.-]`).
    pub name: String,
    /// Its shards (1 by default). A stream that exists keeps the shards it has.
    #[serde(default = "default_shards")]
    pub shards: u32,
}

/// When a put is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// Once its records are in the shard logs.
    #[default]
    Stored,
    /// Once the pipeline delivered its records.
    Delivered,
}

/// Where reading starts without a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    /// The oldest record kept.
    #[default]
    TrimHorizon,
    /// The records put after the start.
    Latest,
    /// The records that arrived from `starting_timestamp` on.
    AtTimestamp,
}

fn default_fsync_interval_ms() -> u64 {
    1000
}
fn default_retention_hours() -> u32 {
    24
}
fn default_segment_bytes() -> u64 {
    64 << 20
}
fn default_max_queued_records() -> usize {
    10_000
}
fn default_max_shards() -> u32 {
    64
}
fn default_delivery_timeout_ms() -> u64 {
    30_000
}
fn default_region() -> String {
    crate::kinesis::record::DEFAULT_REGION.to_owned()
}
fn default_account() -> String {
    crate::kinesis::record::DEFAULT_ACCOUNT.to_owned()
}
fn default_max_body_bytes() -> usize {
    7 << 20
}
fn default_max_pending_connections() -> usize {
    1024
}
fn default_header_read_timeout_ms() -> u64 {
    60_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_shards() -> u32 {
    1
}

impl KinesisServerConfig {
    /// Every problem `validate` reports.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.address.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!("`address` `{}` is not an IP address and port", self.address));
        }
        if !(24..=8760).contains(&self.retention_hours) {
            problems.push(format!("`retention_hours` must be from 24 to 8760 (as AWS), not {}", self.retention_hours));
        }
        if self.delivery_timeout_ms == 0 {
            problems.push("`delivery_timeout_ms` must be at least 1".to_owned());
        }
        if self.fsync_interval_ms == 0 {
            problems.push("`fsync_interval_ms` must be at least 1".to_owned());
        }
        if self.segment_bytes < 4096 {
            problems.push(format!("`segment_bytes` must be at least 4096, not {}", self.segment_bytes));
        }
        if self.max_queued_records == 0 {
            problems.push("`max_queued_records` must be at least 1".to_owned());
        }
        if self.max_shards == 0 {
            problems.push("`max_shards` must be at least 1".to_owned());
        }
        for (i, stream) in self.streams.iter().enumerate() {
            let valid = !stream.name.is_empty()
                && stream.name.len() <= 128
                && stream.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !valid {
                problems.push(format!("`streams[{i}].name` `{}` must be 1 to 128 of [a-zA-Z0-9_.-]", stream.name));
            }
            if stream.shards == 0 || stream.shards > self.max_shards {
                problems.push(format!("`streams[{i}].shards` must be from 1 to `max_shards` ({}), not {}", self.max_shards, stream.shards));
            }
            if self.streams[..i].iter().any(|s| s.name == stream.name) {
                problems.push(format!("`streams[{i}].name` `{}` is declared twice", stream.name));
            }
        }
        match (self.starting_position, self.starting_timestamp) {
            (StartingPosition::AtTimestamp, None) => problems.push("`starting_position = \"AT_TIMESTAMP\"` needs `starting_timestamp`".to_owned()),
            (StartingPosition::TrimHorizon | StartingPosition::Latest, Some(_)) => {
                problems.push("`starting_timestamp` is only read with `starting_position = \"AT_TIMESTAMP\"`".to_owned());
            }
            _ => {}
        }
        problems
    }

    /// The shard logs' folder.
    pub(crate) fn data_dir(&self, cx: &BuildContext) -> Result<PathBuf, BuildError> {
        match &self.data_dir {
            Some(dir) => Ok(cx.resolve(dir)),
            None => {
                cx.state_dir.as_ref().map(|dir| dir.join(format!("{}.kinesis", cx.name))).ok_or_else(|| {
                    BuildError::Invalid("`data_dir` is needed for a pipeline not read from a file (it has no state folder)".to_owned())
                })
            }
        }
    }

    pub(crate) fn listener_limits(&self) -> ListenerLimits {
        ListenerLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_pending: self.max_pending_connections,
        }
    }
}
