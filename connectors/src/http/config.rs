//! The `http` sink's configuration and what validation checks in it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::template::UrlTemplate;

/// Sends messages to an HTTP endpoint (a webhook): one message or a JSON array per request,
/// retried on connection errors, 5xx and 429, acknowledged only after a 2xx answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// The URL of each request: `http://` or `https://`, with `{field}` or `{.a.b}` placeholders
    /// filled from each message's value, percent-encoded.
    pub url: UrlTemplate,
    /// The request method.
    #[serde(default)]
    pub method: Method,
    /// Headers of every request (`Authorization = "Bearer ${TOKEN}"`: the pipeline loader fills
    /// in `${VAR}` from the environment).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How messages are written in a request body.
    #[serde(default)]
    pub encoding: Encoding,
    /// How messages are gathered into one request.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Concurrency, rate limit, timeout and retries of requests.
    #[serde(default)]
    pub request: RequestConfig,
    /// Signs each request's body with an HMAC in a header.
    #[serde(default)]
    pub signing: Option<SigningConfig>,
}

/// The method of the sink's requests.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `POST` (the default).
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
}

/// How the messages of a request are written in its body.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `application/json`: the message itself when `batch.max_events` is 1, else a JSON array of
    /// the messages (the default).
    #[default]
    Json,
    /// `application/x-ndjson`: one message per line.
    Ndjson,
}

/// When a batch of messages for one URL is sent: at `max_events` messages, at `max_bytes` of
/// body, or `timeout_ms` after its first message, whichever comes first.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Messages per request, at most; 1 (the default) sends each message alone.
    pub max_events: usize,
    /// Body bytes per request, at most (a single larger message is sent alone).
    pub max_bytes: usize,
    /// How long the first message of a batch waits for more, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { max_events: 1, max_bytes: 1024 * 1024, timeout_ms: 1_000 }
    }
}

/// How requests are made and retried.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestConfig {
    /// Requests in flight at once, at most (retries included); past that the sink reads no input.
    pub concurrency: usize,
    /// Requests started per `rate_limit_duration_ms`, at most; 0 (the default) sets no limit.
    pub rate_limit_num: u64,
    /// The window of `rate_limit_num`, in milliseconds.
    pub rate_limit_duration_ms: u64,
    /// How long one attempt may take, answer body included, in milliseconds.
    pub timeout_ms: u64,
    /// Retries of a request after its first attempt, at most, before its messages fail.
    pub retry_attempts: u32,
    /// The first retry's delay, in milliseconds; it doubles up to `retry_max_backoff_ms`, and
    /// each delay is drawn between half of it and all of it (jitter).
    pub retry_initial_backoff_ms: u64,
    /// The longest delay between retries, in milliseconds; also caps a `Retry-After` answer.
    pub retry_max_backoff_ms: u64,
}

impl Default for RequestConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rate_limit_num: 0,
            rate_limit_duration_ms: 1_000,
            timeout_ms: 30_000,
            retry_attempts: 5,
            retry_initial_backoff_ms: 500,
            retry_max_backoff_ms: 30_000,
        }
    }
}

/// The HMAC signature of a request's body, in a header: GitHub's
/// `X-Hub-Signature-256: sha256=<hex>` by default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// The shared secret (`"${WEBHOOK_SECRET}"`).
    pub secret: String,
    /// The header that carries the signature.
    #[serde(default = "default_signature_header")]
    pub header: String,
    /// The hash of the HMAC.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Text before the hex digest; unset, the algorithm's name and `=` (`sha256=`).
    #[serde(default)]
    pub prefix: Option<String>,
}

fn default_signature_header() -> String {
    "X-Hub-Signature-256".to_owned()
}

/// The hash of a request signature's HMAC.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// HMAC-SHA256 (the default).
    #[default]
    Sha256,
    /// HMAC-SHA1 (GitHub's legacy `X-Hub-Signature`).
    Sha1,
}

impl Algorithm {
    /// The name in a signature's default prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha1 => "sha1",
        }
    }
}

impl HttpSinkConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.url.problems("url");
        problems.extend(header_problems(&self.headers));
        let b = &self.batch;
        let r = &self.request;
        for (field, value) in [
            ("batch.max_events", b.max_events as u64),
            ("batch.max_bytes", b.max_bytes as u64),
            ("batch.timeout_ms", b.timeout_ms),
            ("request.concurrency", r.concurrency as u64),
            ("request.rate_limit_duration_ms", r.rate_limit_duration_ms),
            ("request.timeout_ms", r.timeout_ms),
            ("request.retry_initial_backoff_ms", r.retry_initial_backoff_ms),
        ] {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        if r.concurrency > 10_000 {
            problems.push("`request.concurrency` must be at most 10000".to_owned());
        }
        if r.retry_max_backoff_ms < r.retry_initial_backoff_ms {
            problems.push("`request.retry_max_backoff_ms` must be at least `retry_initial_backoff_ms`".to_owned());
        }
        if let Some(signing) = &self.signing {
            if signing.secret.is_empty() {
                problems.push("`signing.secret` must not be empty".to_owned());
            }
            if reqwest::header::HeaderName::from_bytes(signing.header.as_bytes()).is_err() {
                problems.push(format!("`signing.header`: `{}` is not a valid header name", signing.header));
            }
            if signing.prefix.as_deref().is_some_and(|p| reqwest::header::HeaderValue::from_str(p).is_err()) {
                problems.push("`signing.prefix` is not valid in a header value".to_owned());
            }
        }
        problems
    }
}

/// The problems with `headers` (the `http` sink's or block's): names and values HTTP refuses.
pub(crate) fn header_problems(headers: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push(format!("`headers`: `{name}` is not a valid header name"));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            problems.push(format!("`headers.{name}`: the value is not a valid header value"));
        }
    }
    problems
}
