//! One request of the `http` sink, from its first attempt to its last: signing, the timeout of
//! each attempt, and retries with exponential backoff and jitter after a connection error, a
//! timeout, a 5xx or a 429 (whose `Retry-After`, seconds or an HTTP date, is honoured). Other
//! answers are final.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::config::{Algorithm, Encoding, HttpSinkConfig, Method, RequestConfig, SigningConfig};
use super::metrics::HttpMetrics;

/// Bytes of an answer's body kept in an error record.
pub(crate) const BODY_EXCERPT_BYTES: usize = 256;

/// Why a request's messages failed, for their error records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What happened, for the record's `error`.
    pub(crate) error: String,
    /// The last answer's status, if there was an answer.
    pub(crate) status: Option<u16>,
    /// The first [`BODY_EXCERPT_BYTES`] of the last answer's body, as text.
    pub(crate) body: Option<String>,
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another attempt, after the server's `Retry-After` if it gave one.
    Retry(Failure, Option<Duration>),
    Final(Failure),
}

/// Everything a request needs, shared by the sink's requests.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    method: reqwest::Method,
    headers: HeaderMap,
    signer: Option<Signer>,
    policy: RequestConfig,
    metrics: HttpMetrics,
}

/// Error building the sink's client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A header name or value validation should have refused.
    #[error("header `{0}` is not valid")]
    Header(String),
    /// reqwest could not make its client (its TLS roots).
    #[error("cannot create the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

impl Client {
    /// The client of `config`.
    ///
    /// # Errors
    /// [`ClientError`] on a header validation missed, or when TLS cannot be set up.
    pub(crate) fn new(config: &HttpSinkConfig, metrics: HttpMetrics) -> Result<Self, ClientError> {
        let mut headers = HeaderMap::new();
        let content_type = match config.encoding {
            Encoding::Json => "application/json",
            Encoding::Ndjson => "application/x-ndjson",
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        for (name, value) in &config.headers {
            let invalid = || ClientError::Header(name.clone());
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            headers.insert(name, HeaderValue::from_str(value).map_err(|_| invalid())?);
        }
        let signer = config.signing.as_ref().map(Signer::new).transpose()?;
        let method = match config.method {
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
        };
        // Redirects are not followed: on a 301, 302 or 303 reqwest would resend a POST as a GET without
        // its body, and a webhook that moved should be reconfigured. A 3xx is a final answer.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, method, headers, signer, policy: config.request, metrics })
    }

    /// Sends `body` to `url` until an attempt gets a 2xx answer, a final one, or the retries
    /// run out. `seed` seeds the jitter.
    ///
    /// # Errors
    /// The [`Failure`] of the last attempt.
    pub(crate) async fn deliver(&self, url: &str, body: Bytes, seed: u64) -> Result<(), Failure> {
        let mut headers = self.headers.clone();
        if let Some(signer) = &self.signer {
            headers.insert(signer.header.clone(), signer.sign(&body));
        }
        let mut backoff = Backoff::new(&self.policy, seed);
        let mut retries = 0;
        loop {
            let failure = match self.attempt(url, headers.clone(), body.clone()).await {
                Attempt::Delivered => return Ok(()),
                Attempt::Final(failure) => return Err(failure),
                Attempt::Retry(failure, retry_after) if retries < self.policy.retry_attempts => {
                    let delay = match retry_after {
                        Some(wait) => wait.min(backoff.max),
                        None => backoff.next_delay(),
                    };
                    tracing::debug!(%url, error = %failure.error, ?delay, "http sink: retrying");
                    tokio::time::sleep(delay).await;
                    retries += 1;
                    self.metrics.retries.inc();
                    continue;
                }
                Attempt::Retry(failure, _) => failure,
            };
            return Err(Failure { error: format!("{} (after {retries} retries)", failure.error), ..failure });
        }
    }

    async fn attempt(&self, url: &str, headers: HeaderMap, body: Bytes) -> Attempt {
        let started = Instant::now();
        let sent = self.http.request(self.method.clone(), url).headers(headers).body(body).send().await;
        let attempt = match sent {
            Err(error) => {
                self.metrics.request("error");
                Attempt::Retry(Failure { error: describe(&error), status: None, body: None }, None)
            }
            Ok(answer) => self.judge(answer).await,
        };
        self.metrics.duration.observe(started.elapsed().as_secs_f64());
        attempt
    }

    async fn judge(&self, answer: reqwest::Response) -> Attempt {
        let status = answer.status();
        self.metrics.request(match status.as_u16() {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        });
        if status.is_success() {
            // The body is read (and dropped) so that the connection can serve the next request.
            let _ = answer.bytes().await;
            return Attempt::Delivered;
        }
        let retry_after = answer.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| retry_after(v, SystemTime::now()));
        let body = excerpt(answer).await;
        let failure = Failure { error: format!("HTTP {status}"), status: Some(status.as_u16()), body: Some(body) };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry(failure, retry_after)
        } else {
            Attempt::Final(failure)
        }
    }
}

/// The first [`BODY_EXCERPT_BYTES`] of an answer's body (cut at a character's end), reading no
/// more of it than that.
pub(crate) async fn excerpt(mut answer: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_EXCERPT_BYTES {
        match answer.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(BODY_EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A multi-byte character cut in two reads as one U+FFFD at the end; drop it.
    match std::str::from_utf8(&bytes) {
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        _ => text,
    }
}

/// A reqwest error as one line, with its causes (reqwest's own text is "error sending request").
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() { "timed out".to_owned() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Exponential backoff with jitter: each delay is drawn between half the step and the step,
/// which doubles up to the maximum.
struct Backoff {
    step: Duration,
    max: Duration,
    rng: SmallRng,
}

impl Backoff {
    fn new(policy: &RequestConfig, seed: u64) -> Self {
        Self {
            step: Duration::from_millis(policy.retry_initial_backoff_ms),
            max: Duration::from_millis(policy.retry_max_backoff_ms),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        half + half.mul_f64(self.rng.random::<f64>())
    }
}

/// Signs bodies with an HMAC.
#[derive(Clone)]
pub(crate) struct Signer {
    header: HeaderName,
    algorithm: Algorithm,
    secret: Vec<u8>,
    prefix: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("header", &self.header).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn new(config: &SigningConfig) -> Result<Self, ClientError> {
        let header = HeaderName::from_bytes(config.header.as_bytes()).map_err(|_| ClientError::Header(config.header.clone()))?;
        let prefix = config.prefix.clone().unwrap_or_else(|| format!("{}=", config.algorithm.name()));
        Ok(Self { header, algorithm: config.algorithm, secret: config.secret.as_bytes().to_vec(), prefix })
    }

    /// The header value for `body`: the prefix and the HMAC's lowercase hex.
    pub(crate) fn sign(&self, body: &[u8]) -> HeaderValue {
        let digest = match self.algorithm {
            Algorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(&self.secret, body),
            Algorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(&self.secret, body),
        };
        let mut text = self.prefix.clone();
        for byte in digest {
            text.push_str(&format!("{byte:02x}"));
        }
        // Hex digits and a prefix checked when the pipeline was validated.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid-prefix"))
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// How long a `Retry-After` of `value` asks to wait at `now`: a number of seconds, or an HTTP
/// date (`Wed, 21 Oct 2015 07:28:00 GMT`; one already past is no wait). `None` for anything else.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
