//! The `http` block's configuration and what validation checks in it.

use std::collections::BTreeMap;

use runnel_blocks::JqProgram;
use runnel_blocks::time::Span;
use serde::Deserialize;

pub use crate::field_path::FieldPath;
use crate::http::UrlTemplate;
use crate::http::config::header_problems;

/// Calls an HTTP endpoint for each message and merges the answer into the message at a path:
/// enrichment from a third-party API, up to `concurrency` calls at once, in input order unless
/// `ordered = false`, with an optional cache by key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpBlockConfig {
    /// The URL of each call: `http://` or `https://`, with `{field}` or `{.a.b}` placeholders
    /// filled from the message's value, percent-encoded.
    pub url: UrlTemplate,
    /// The method of the calls; `GET` by default.
    #[serde(default)]
    pub method: Method,
    /// Headers sent with each call, such as an API key: `X-Api-Key = "${API_KEY}"` (the
    /// pipeline loader substitutes `${VAR}` from the environment when it reads the file).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A jq expression over the message whose first output is the JSON request body; none for
    /// `GET`, and no body when unset.
    #[serde(default)]
    pub body: Option<JqProgram>,
    /// Where the answer goes in the message: a dotted path of object keys (`geo`, `.user.profile`),
    /// created as needed; what was there is replaced.
    pub response_at: FieldPath,
    /// How the answer's body becomes a JSON value.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Where the answer's status code goes, if anywhere: a dotted path as `response_at`.
    #[serde(default)]
    pub status_at: Option<FieldPath>,
    /// Calls in flight at once, at most (retries included).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Whether messages leave in the order they came (true), or as their calls finish.
    #[serde(default = "default_ordered")]
    pub ordered: bool,
    /// How long one attempt may take, answer body included, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries of a call after its first attempt, at most, on a connection error, a timeout, a
    /// 5xx or a 429.
    #[serde(default = "default_retry_attempts")]
    pub retry_attempts: u32,
    /// The first retry's delay, in milliseconds; it doubles up to `retry_max_backoff_ms`, each
    /// delay drawn between half of it and all of it (jitter).
    #[serde(default = "default_initial_backoff_ms")]
    pub retry_initial_backoff_ms: u64,
    /// The longest delay between retries, in milliseconds; also caps a `Retry-After` answer.
    #[serde(default = "default_max_backoff_ms")]
    pub retry_max_backoff_ms: u64,
    /// The largest answer body accepted, in bytes; a longer one fails the message.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Answers kept by key, so that messages with the same key within `ttl` make no request.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
}

fn default_concurrency() -> usize {
    16
}
fn default_ordered() -> bool {
    true
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_retry_attempts() -> u32 {
    3
}
fn default_initial_backoff_ms() -> u64 {
    200
}
fn default_max_backoff_ms() -> u64 {
    10_000
}
fn default_max_response_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_max_entries() -> usize {
    10_000
}

/// The method of the block's requests.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET` (the default), without a body.
    #[default]
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// reqwest's method.
    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
            Self::Patch => reqwest::Method::PATCH,
            Self::Delete => reqwest::Method::DELETE,
        }
    }
}

/// How an answer's body becomes the value merged into the message.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// By the answer's `Content-Type`: JSON (`application/json`, `…+json`) parsed, text
    /// (`text/*`, XML, form data) as a string, anything else as base64 (the default).
    #[default]
    Auto,
    /// Parsed as JSON whatever the content type; a body that is not JSON fails the message.
    Json,
    /// A UTF-8 string; a body that is not UTF-8 fails the message.
    Text,
    /// The bytes as a base64 string (standard alphabet, padded).
    Base64,
}

/// The cache of answers by key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// A jq expression over the message whose first output is its key (a string as it is,
    /// anything else as JSON text); a message whose key is `null` or absent is not cached.
    pub key: JqProgram,
    /// How long an answer is used for: `"10m"`, `"30s"`, or milliseconds.
    pub ttl: Span,
    /// Answers kept at once, at most; past that the oldest goes first.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

impl HttpBlockConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.url.problems("url");
        problems.extend(header_problems(&self.headers));
        if self.method == Method::Get && self.body.is_some() {
            problems.push("`body`: a GET request has no body; use `method = \"POST\"` (or PUT, PATCH, DELETE)".to_owned());
        }
        for (field, value) in [
            ("concurrency", self.concurrency as u64),
            ("timeout_ms", self.timeout_ms),
            ("retry_initial_backoff_ms", self.retry_initial_backoff_ms),
            ("max_response_bytes", self.max_response_bytes as u64),
        ] {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        if self.concurrency > 10_000 {
            problems.push("`concurrency` must be at most 10000".to_owned());
        }
        if self.retry_max_backoff_ms < self.retry_initial_backoff_ms {
            problems.push("`retry_max_backoff_ms` must be at least `retry_initial_backoff_ms`".to_owned());
        }
        if let Some(cache) = &self.cache {
            if cache.ttl.duration().is_zero() {
                problems.push("`cache.ttl` must be longer than 0".to_owned());
            }
            if cache.max_entries == 0 {
                problems.push("`cache.max_entries` must be at least 1".to_owned());
            }
        }
        problems
    }
}
