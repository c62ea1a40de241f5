//! A small Kinesis client: the calls the `kinesis` source makes, as AWS JSON 1.1 requests
//! (`POST /`, `X-Amz-Target: Kinesis_20131202.<Operation>`) signed with SigV4.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinesis::sigv4::Keys;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The service answered with an error (`__type` and `message`).
    #[error("{operation}: {kind} (HTTP {status}): {message}")]
    Service { operation: &'static str, status: u16, kind: String, message: String },
    /// No answer: connection refused or reset, timeout.
    #[error("{operation}: {reason}")]
    Transport { operation: &'static str, reason: String },
    /// An answer that is not what the API says.
    #[error("{operation}: unreadable answer: {reason}")]
    Decode { operation: &'static str, reason: String },
}

impl CallError {
    /// The error type the service named (`ExpiredIteratorException`...).
    pub(crate) fn kind(&self) -> Option<&str> {
        match self {
            Self::Service { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Whether the same call may succeed later: throttling, server faults, no answer.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Service { status, kind, .. } => {
                *status >= 500
                    || matches!(
                        kind.as_str(),
                        "ProvisionedThroughputExceededException" | "LimitExceededException" | "ThrottlingException" | "KMSThrottlingException"
                    )
            }
            Self::Transport { .. } => true,
            Self::Decode { .. } => false,
        }
    }
}

/// The endpoint, its region and the key that signs.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    url: String,
    host: String,
    region: String,
    keys: Keys,
}

impl Client {
    pub(crate) fn new(url: &str, region: &str, keys: Keys, timeout: Duration) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("`endpoint` {url}: {e}"))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(format!("`endpoint` {url} has no host")),
        };
        let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(Self { http, url: parsed.to_string(), host, region: region.to_owned(), keys })
    }

    /// Calls `operation` with `input`.
    pub(crate) async fn call<I: Serialize, O: DeserializeOwned>(&self, operation: &'static str, input: &I) -> Result<O, CallError> {
        let body = serde_json::to_vec(input).map_err(|e| CallError::Decode { operation, reason: e.to_string() })?;
        let target = format!("Kinesis_20131202.{operation}");
        let content_type = "application/x-amz-json-1.1";
        let headers = [("host", self.host.as_str()), ("content-type", content_type), ("x-amz-target", target.as_str())];
        let signed = self
            .keys
            .sign(&self.region, "kinesis", &self.url, &headers, &body, SystemTime::now())
            .map_err(|e| CallError::Transport { operation, reason: e.to_string() })?;
        let mut request = self.http.post(&self.url).header("content-type", content_type).header("x-amz-target", target);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(|e| CallError::Transport { operation, reason: runnel_engine::error_chain(&e) })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| CallError::Transport { operation, reason: runnel_engine::error_chain(&e) })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| CallError::Decode { operation, reason: e.to_string() });
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        // AWS may qualify the type: `com.amazonaws.kinesis.v20131202#ResourceNotFoundException`.
        let kind = error.kind.rsplit('#').next().unwrap_or_default().to_owned();
        let message = error.message.or(error.capital_message).unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(CallError::Service { operation, status: status.as_u16(), kind, message })
    }
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "Message", default)]
    capital_message: Option<String>,
}

/// `ListShards` input: the stream's name on the first page, the token alone on the next ones.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShards<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_token: Option<String>,
}

/// `ListShards` output.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShardList {
    #[serde(default)]
    pub(crate) shards: Vec<ShardInfo>,
    #[serde(default)]
    pub(crate) next_token: Option<String>,
}

/// One shard as `ListShards` describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShardInfo {
    pub(crate) shard_id: String,
    #[serde(default)]
    pub(crate) parent_shard_id: Option<String>,
    #[serde(default)]
    pub(crate) adjacent_parent_shard_id: Option<String>,
}

/// `GetShardIterator` input.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIterator<'a> {
    pub(crate) stream_name: &'a str,
    pub(crate) shard_id: &'a str,
    pub(crate) shard_iterator_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) starting_sequence_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timestamp: Option<f64>,
}

/// `GetShardIterator` output.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShardIterator {
    pub(crate) shard_iterator: String,
}

/// `GetRecords` input.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecords<'a> {
    pub(crate) shard_iterator: &'a str,
    pub(crate) limit: u32,
}

/// `GetRecords` output.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Records {
    #[serde(default)]
    pub(crate) records: Vec<Record>,
    /// `None` once a closed shard is read to its end.
    #[serde(default)]
    pub(crate) next_shard_iterator: Option<String>,
    #[serde(default)]
    pub(crate) millis_behind_latest: Option<i64>,
    #[serde(default)]
    pub(crate) child_shards: Option<Vec<Value>>,
}

/// One record as `GetRecords` returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Record {
    pub(crate) sequence_number: String,
    /// Unix seconds with milliseconds.
    #[serde(default)]
    pub(crate) approximate_arrival_timestamp: f64,
    /// Base64, as on the wire: the Lambda-shaped record keeps it so.
    pub(crate) data: String,
    pub(crate) partition_key: String,
}
