//! The `http` block (call-out, enrichment): for each message a request built from it (URL
//! template, method, headers, a jq body), the answer merged into the message at `response_at`.
//! The engine runs up to `concurrency` calls at once and keeps input order unless
//! `ordered = false` ([`BuiltBlock::concurrent`]); the requests share the `http` sink's client
//! (timeouts, retries with backoff and jitter, `Retry-After`).
//!
//! - [`config`]: [`HttpBlockConfig`], its fields and their checks.
//! - `cache`: answers by key with a TTL and a bound.
//! - `response`: the value an answer's body becomes.

mod cache;
pub mod config;
mod response;

#[cfg(test)]
mod tests;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prometheus::IntGauge;
use runnel_blocks::JqProgram;
use runnel_engine::{AsyncFunctionBlock, BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, Message, Role, async_trait};
use serde_json::Value;

use self::cache::{Cache, Cached, Lookup};
pub use self::config::{CacheConfig, FieldPath, HttpBlockConfig, Method, ResponseFormat};
use super::client::{Client, Failure, RetryPolicy, Settings, details, text_excerpt};
use super::metrics::{self, CacheMetrics, HttpMetrics};

impl Component for HttpBlockConfig {
    const TYPE: &'static str = "http";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str =
        "Calls an HTTP endpoint per message (URL template, jq body) and merges the answer at a path; concurrent, ordered, retried, cached by key.";
    const EXAMPLE: &'static str = r#"url = "https://api.example.com/users/{user}"
headers = { Authorization = "Bearer ${API_TOKEN:-secret}" }
response_at = "profile"
cache = { key = ".user", ttl = "5m" }"#;
}

#[async_trait]
impl BlockConfig for HttpBlockConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let metrics = HttpMetrics::register(&cx.metrics, &cx.name, &metrics::BLOCK);
        let settings = Settings {
            method: self.method.to_reqwest(),
            content_type: self.body.is_some().then_some("application/json"),
            headers: &self.headers,
            signing: None,
            policy: RetryPolicy {
                timeout: Duration::from_millis(self.timeout_ms),
                attempts: self.retry_attempts,
                initial_backoff: Duration::from_millis(self.retry_initial_backoff_ms),
                max_backoff: Duration::from_millis(self.retry_max_backoff_ms),
            },
            keep_body: Some(self.max_response_bytes),
        };
        let client = Client::new(settings, metrics.clone()).map_err(|e| BuildError::Other(Box::new(e)))?;
        let cache =
            self.cache.as_ref().map(|c| (c.key.clone(), Cache::new(c.ttl.duration(), c.max_entries), CacheMetrics::register(&cx.metrics, &cx.name)));
        let limit = NonZeroUsize::new(self.concurrency).ok_or_else(|| BuildError::Other("`concurrency` must be at least 1".into()))?;
        let seed = cx.name.bytes().fold(0x2545_f491_4f6c_dd1d_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        let block = HttpBlock { config: self.clone(), client, in_flight: metrics.in_flight, cache, seed, calls: AtomicU64::new(0) };
        Ok(BuiltBlock::concurrent(block, limit, self.ordered))
    }
}

/// The running `http` block, shared by its calls.
#[derive(Debug)]
pub struct HttpBlock {
    config: HttpBlockConfig,
    client: Client,
    in_flight: IntGauge,
    cache: Option<(JqProgram, Cache, CacheMetrics)>,
    seed: u64,
    calls: AtomicU64,
}

#[async_trait]
impl AsyncFunctionBlock for HttpBlock {
    async fn process(&self, mut message: Message, out: &mut Emitter) {
        let answer = match self.call(&message).await {
            Ok(answer) => answer,
            Err(Failure { error, status, body }) => return out.fail_with_details(message, error, details(status, body)),
        };
        let (response, status) = match Arc::try_unwrap(answer) {
            Ok(Cached { response, status }) => (response, status),
            Err(shared) => (shared.response.clone(), shared.status),
        };
        let value = message.value_mut();
        let merged = self.config.response_at.set(value, response).and_then(|()| match &self.config.status_at {
            Some(path) => path.set(value, status.into()),
            None => Ok(()),
        });
        match merged {
            Ok(()) => out.emit(message),
            Err(error) => out.fail_with_details(message, error, details(Some(status), None)),
        }
    }
}

/// Counts a call in flight while it lives (a call dropped at shutdown included).
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn start(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A failure before any request: no status, no body.
fn before_request(error: String) -> Failure {
    Failure { error, status: None, body: None }
}

impl HttpBlock {
    /// The answer for `message`: from the cache (or another call asking for the same key), or
    /// from a request (then kept in the cache).
    async fn call(&self, message: &Message) -> Result<Arc<Cached>, Failure> {
        let filling = match &self.cache {
            Some((program, cache, metrics)) => match program.run_first(message.value()) {
                Err(error) => return Err(before_request(format!("`cache.key`: {error}"))),
                Ok(None | Some(Value::Null)) => None,
                Ok(Some(key)) => {
                    let key = match key {
                        Value::String(text) => text,
                        other => other.to_string(),
                    };
                    loop {
                        match cache.lookup(&key) {
                            Lookup::Hit(cached) => {
                                metrics.hits.inc();
                                return Ok(cached);
                            }
                            Lookup::Wait(mut announced) => {
                                // A closed channel: that call failed; look again (and ask).
                                if let Ok(answer) = announced.wait_for(Option::is_some).await {
                                    if let Some(cached) = answer.clone() {
                                        metrics.hits.inc();
                                        return Ok(cached);
                                    }
                                }
                            }
                            Lookup::Miss(filling) => {
                                metrics.misses.inc();
                                break Some(filling);
                            }
                        }
                    }
                }
            },
            None => None,
        };
        let url = self.config.url.render(message.value()).map_err(|e| before_request(format!("`url`: {e}")))?;
        let body = match &self.config.body {
            None => None,
            Some(program) => match program.run_first(message.value()) {
                Ok(Some(body)) => Some(Bytes::from(serde_json::to_vec(&body).map_err(|e| before_request(format!("`body`: {e}")))?)),
                Ok(None) => return Err(before_request(format!("`body`: `{program}` gave no output"))),
                Err(error) => return Err(before_request(format!("`body`: {error}"))),
            },
        };
        let answer = {
            let _counted = InFlight::start(&self.in_flight);
            // Each call's jitter differs: the node's seed and the call's number.
            let seed = self.seed ^ self.calls.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            self.client.send(&url, body, seed).await?
        };
        let status = answer.status.as_u16();
        let response = response::decode(self.config.response_format, answer.content_type.as_ref(), &answer.body).map_err(|error| Failure {
            error: format!("HTTP {}: {error}", answer.status),
            status: Some(status),
            body: Some(text_excerpt(&answer.body)),
        })?;
        let cached = Arc::new(Cached { response, status });
        if let Some(filling) = filling {
            filling.fill(cached.clone());
        }
        Ok(cached)
    }
}
