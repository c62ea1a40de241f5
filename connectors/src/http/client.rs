//! One request of the `http` sink or block, from its first attempt to its last: signing, the
//! timeout of each attempt, and retries with exponential backoff and jitter after a connection
//! error, a timeout, a 5xx or a 429 (whose `Retry-After`, seconds or an HTTP date, is honoured).
//! Other answers are final. A 2xx answer's body is read whole (up to a limit) for the block, or
//! read and dropped for the sink.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::config::{Algorithm, RequestConfig, SigningConfig};
use super::metrics::HttpMetrics;

/// Bytes of an answer's body kept in an error record.
pub(crate) const BODY_EXCERPT_BYTES: usize = 256;

/// Why a request failed, for its messages' error records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What happened, for the record's `error`.
    pub(crate) error: String,
    /// The last answer's status, if there was an answer.
    pub(crate) status: Option<u16>,
    /// The first [`BODY_EXCERPT_BYTES`] of the last answer's body, as text.
    pub(crate) body: Option<String>,
}

/// The fields an HTTP failure adds to its error records: `status` and `body`, `null` when there
/// was no answer.
pub(crate) fn details(status: Option<u16>, body: Option<String>) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("status".into(), status.into());
    fields.insert("body".into(), body.into());
    fields
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its status.
    pub(crate) status: StatusCode,
    /// Its `Content-Type`, if any.
    pub(crate) content_type: Option<HeaderValue>,
    /// Its body; empty when the client keeps no body.
    pub(crate) body: Bytes,
}

/// What one attempt came to.
enum Attempt {
    Answered(Answer),
    /// Worth another attempt, after the server's `Retry-After` if it gave one.
    Retry(Failure, Option<Duration>),
    Final(Failure),
}

/// How each attempt is timed and failed ones retried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// How long one attempt may take, answer body included.
    pub(crate) timeout: Duration,
    /// Retries after the first attempt, at most.
    pub(crate) attempts: u32,
    /// The first retry's delay; it doubles up to `max_backoff`.
    pub(crate) initial_backoff: Duration,
    /// The longest delay, also the cap of a `Retry-After`.
    pub(crate) max_backoff: Duration,
}

impl From<&RequestConfig> for RetryPolicy {
    fn from(config: &RequestConfig) -> Self {
        Self {
            timeout: Duration::from_millis(config.timeout_ms),
            attempts: config.retry_attempts,
            initial_backoff: Duration::from_millis(config.retry_initial_backoff_ms),
            max_backoff: Duration::from_millis(config.retry_max_backoff_ms),
        }
    }
}

/// What a [`Client`] is made from.
#[derive(Debug)]
pub(crate) struct Settings<'a> {
    /// The method of every request.
    pub(crate) method: reqwest::Method,
    /// The `Content-Type` of request bodies, unless `headers` sets one.
    pub(crate) content_type: Option<&'static str>,
    /// Headers of every request.
    pub(crate) headers: &'a BTreeMap<String, String>,
    /// Signs each body with an HMAC in a header.
    pub(crate) signing: Option<&'a SigningConfig>,
    /// Timeouts and retries.
    pub(crate) policy: RetryPolicy,
    /// The most bytes of a 2xx answer's body kept, past which the answer fails (not retried);
    /// `None` reads the body and drops it.
    pub(crate) keep_body: Option<usize>,
}

/// Everything a request needs, shared by a node's requests.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    method: reqwest::Method,
    headers: HeaderMap,
    signer: Option<Signer>,
    policy: RetryPolicy,
    keep_body: Option<usize>,
    metrics: HttpMetrics,
}

/// Error building an HTTP client.
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
    /// The client of `settings`.
    ///
    /// # Errors
    /// [`ClientError`] on a header validation missed, or when TLS cannot be set up.
    pub(crate) fn new(settings: Settings<'_>, metrics: HttpMetrics) -> Result<Self, ClientError> {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = settings.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        for (name, value) in settings.headers {
            let invalid = || ClientError::Header(name.clone());
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            headers.insert(name, HeaderValue::from_str(value).map_err(|_| invalid())?);
        }
        let signer = settings.signing.map(Signer::new).transpose()?;
        // Redirects are not followed: on a 301, 302 or 303 reqwest would resend a POST as a GET without
        // its body, and an endpoint that moved should be reconfigured. A 3xx is a final answer.
        let http = reqwest::Client::builder().timeout(settings.policy.timeout).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { http, method: settings.method, headers, signer, policy: settings.policy, keep_body: settings.keep_body, metrics })
    }

    /// Sends `body` (none for a bodiless request) to `url` until an attempt gets a 2xx answer,
    /// a final one, or the retries run out. `seed` seeds the jitter.
    ///
    /// # Errors
    /// The [`Failure`] of the last attempt.
    pub(crate) async fn send(&self, url: &str, body: Option<Bytes>, seed: u64) -> Result<Answer, Failure> {
        let signed = match (&self.signer, &body) {
            (Some(signer), Some(body)) => {
                let mut headers = self.headers.clone();
                headers.insert(signer.header.clone(), signer.sign(body));
                Some(headers)
            }
            _ => None,
        };
        let headers = signed.as_ref().unwrap_or(&self.headers);
        let mut backoff = Backoff::new(&self.policy, seed);
        let mut retries = 0;
        loop {
            let failure = match self.attempt(url, headers, body.clone()).await {
                Attempt::Answered(answer) => return Ok(answer),
                Attempt::Final(failure) => return Err(failure),
                Attempt::Retry(failure, retry_after) if retries < self.policy.attempts => {
                    let delay = match retry_after {
                        Some(wait) => wait.min(backoff.max),
                        None => backoff.next_delay(),
                    };
                    tracing::debug!(%url, error = %failure.error, ?delay, "http: retrying");
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

    async fn attempt(&self, url: &str, headers: &HeaderMap, body: Option<Bytes>) -> Attempt {
        let started = Instant::now();
        // Header by header: names and values share their bytes, where a map would be copied.
        let mut request = self.http.request(self.method.clone(), url);
        for (name, value) in headers {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let attempt = match request.send().await {
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
            return self.read(answer).await;
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

    /// Reads a 2xx answer's body: kept up to `keep_body`, or dropped (read all the same, so that
    /// the connection can serve the next request). A body cut short is retried like a
    /// connection error; a body over the limit is final.
    async fn read(&self, mut answer: reqwest::Response) -> Attempt {
        let status = answer.status();
        let content_type = answer.headers().get(CONTENT_TYPE).cloned();
        let limit = self.keep_body.unwrap_or(0);
        let mut body = BytesMut::with_capacity(answer.content_length().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)).min(limit));
        loop {
            match answer.chunk().await {
                Ok(Some(chunk)) if self.keep_body.is_none() => drop(chunk),
                Ok(Some(chunk)) if body.len() + chunk.len() > limit => {
                    body.extend_from_slice(&chunk[..BODY_EXCERPT_BYTES.saturating_sub(body.len()).min(chunk.len())]);
                    let error = format!("HTTP {status}: the answer's body is longer than {limit} bytes");
                    return Attempt::Final(Failure { error, status: Some(status.as_u16()), body: Some(text_excerpt(&body)) });
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Attempt::Answered(Answer { status, content_type, body: body.freeze() }),
                Err(error) => {
                    let error = format!("HTTP {status}: reading the answer's body: {}", describe(&error));
                    return Attempt::Retry(Failure { error, status: Some(status.as_u16()), body: None }, None);
                }
            }
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
    text_excerpt(&bytes)
}

/// The first [`BODY_EXCERPT_BYTES`] of `bytes` as text, cut at a character's end.
pub(crate) fn text_excerpt(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(BODY_EXCERPT_BYTES)];
    // A multi-byte character cut in two reads as one U+FFFD at the end; drop it.
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A reqwest error as one line, with its causes (reqwest's own text is "error sending request").
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let chain = runnel_engine::error_chain(error);
    // reqwest's own message for a timeout names the operation; say what happened first.
    if error.is_timeout() { format!("timed out: {chain}") } else { chain }
}

/// Exponential backoff with jitter: each delay is drawn between half the step and the step,
/// which doubles up to the maximum.
struct Backoff {
    step: Duration,
    max: Duration,
    rng: SmallRng,
}

impl Backoff {
    fn new(policy: &RetryPolicy, seed: u64) -> Self {
        Self { step: policy.initial_backoff, max: policy.max_backoff, rng: SmallRng::seed_from_u64(seed) }
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
