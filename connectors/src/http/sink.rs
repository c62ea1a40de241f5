//! The running `http` sink: renders each message's URL, gathers messages per URL into batches,
//! and sends each batch as one request, at most `request.concurrency` at once and
//! `request.rate_limit_num` per window. A request's messages are acknowledged as delivered after
//! a 2xx answer and go to the errors port otherwise, with the status and an excerpt of the body.
//!
//! Requests run as futures of the sink's own task (no task is spawned): while all slots are busy
//! the sink reads no input. At the end of its input the sink sends what it gathered and waits
//! for every request in flight, each bounded by its timeouts and retries.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use runnel_engine::{
    AckStatus, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Role, RunContext, async_trait,
};
use tokio::time::Instant;

use super::batches::{Batch, Batches};
use super::client::{Client, Failure, RetryPolicy, Settings, details};
use super::config::{Encoding, HttpSinkConfig, Method};
use super::metrics::{self, HttpMetrics};

impl Component for HttpSinkConfig {
    const TYPE: &'static str = "http";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "Sends messages to an HTTP endpoint (a webhook), one or a JSON array per request; retries 5xx, 429 and connection errors; acknowledges after a 2xx.";
    const EXAMPLE: &'static str = r#"url = "https://hooks.example.com/rooms/{room}"
headers = { Authorization = "Bearer ${TOKEN:-secret}" }
batch = { max_events = 100, timeout_ms = 1000 }
request = { concurrency = 4, retry_attempts = 5 }
signing = { secret = "${WEBHOOK_SECRET:-secret}" }"#;
}

#[async_trait]
impl BlockConfig for HttpSinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let metrics = HttpMetrics::register(&cx.metrics, &cx.name, &metrics::SINK);
        let settings = Settings {
            method: match self.method {
                Method::Post => reqwest::Method::POST,
                Method::Put => reqwest::Method::PUT,
                Method::Patch => reqwest::Method::PATCH,
            },
            content_type: Some(match self.encoding {
                Encoding::Json => "application/json",
                Encoding::Ndjson => "application/x-ndjson",
            }),
            headers: &self.headers,
            signing: self.signing.as_ref(),
            policy: RetryPolicy::from(&self.request),
            keep_body: None,
        };
        let client = Client::new(settings, metrics.clone()).map_err(|e| BuildError::Other(Box::new(e)))?;
        let seed = cx.name.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        Ok(BuiltBlock::task(HttpSink { config: self.clone(), client: Arc::new(client), metrics, seed }))
    }
}

/// The running `http` sink.
#[derive(Debug)]
pub struct HttpSink {
    config: HttpSinkConfig,
    client: Arc<Client>,
    metrics: HttpMetrics,
    seed: u64,
}

/// A request in flight: its messages and how it ended.
type Request = Pin<Box<dyn Future<Output = (Vec<Message>, Result<(), Failure>)> + Send>>;

#[async_trait]
impl Block for HttpSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let mut sink = Sender {
            batches: Batches::new(self.config.batch, self.config.encoding),
            in_flight: FuturesUnordered::new(),
            limiter: RateLimiter::new(self.config.request.rate_limit_num, self.config.request.rate_limit_duration_ms),
            client: self.client,
            metrics: self.metrics,
            concurrency: self.config.request.concurrency,
            rng: SmallRng::seed_from_u64(self.seed),
        };
        loop {
            let deadline = sink.batches.next_deadline();
            tokio::select! {
                Some(done) = sink.in_flight.next() => sink.finish(done, &mut cx).await?,
                () = sleep_until(deadline) => {
                    for (url, batch) in sink.batches.take_due(Instant::now()) {
                        sink.dispatch(url, batch, &mut cx).await?;
                    }
                }
                next = cx.input.next() => {
                    let Some(batch) = next else { break };
                    let mut failures = Vec::new();
                    for message in batch {
                        let url = match self.config.url.render(message.value()) {
                            Ok(url) => url,
                            Err(error) => {
                                failures.push((message, format!("`url`: {error}"), details(None, None)));
                                continue;
                            }
                        };
                        for (url, batch) in sink.batches.push(url, message) {
                            sink.dispatch(url, batch, &mut cx).await?;
                        }
                    }
                    cx.output.fail_with_details(failures).await?;
                }
            }
        }
        for (url, batch) in sink.batches.take_all() {
            sink.dispatch(url, batch, &mut cx).await?;
        }
        while let Some(done) = sink.in_flight.next().await {
            sink.finish(done, &mut cx).await?;
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The sink's state while it runs.
struct Sender {
    batches: Batches,
    in_flight: FuturesUnordered<Request>,
    limiter: RateLimiter,
    client: Arc<Client>,
    metrics: HttpMetrics,
    concurrency: usize,
    rng: SmallRng,
}

impl Sender {
    /// Starts the request of `batch`, once a slot is free and the rate limit allows.
    async fn dispatch(&mut self, url: String, batch: Batch, cx: &mut RunContext) -> Result<(), BlockError> {
        while self.in_flight.len() >= self.concurrency {
            if let Some(done) = self.in_flight.next().await {
                self.finish(done, cx).await?;
            }
        }
        // Requests in flight go on (and finish) while this one waits for its turn.
        while let Some(at) = self.limiter.not_before() {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                Some(done) = self.in_flight.next() => self.finish(done, cx).await?,
            }
        }
        self.limiter.started();
        let client = self.client.clone();
        let seed = self.rng.random();
        let body = batch.body;
        let messages = batch.messages;
        self.in_flight.push(Box::pin(async move {
            let result = client.send(&url, Some(body), seed).await.map(drop);
            (messages, result)
        }));
        self.metrics.in_flight.set(self.in_flight.len() as i64);
        Ok(())
    }

    /// Acknowledges a request's messages after a 2xx, or fails them.
    async fn finish(&mut self, (messages, result): (Vec<Message>, Result<(), Failure>), cx: &mut RunContext) -> Result<(), BlockError> {
        self.metrics.in_flight.set(self.in_flight.len() as i64);
        match result {
            Ok(()) => {
                for message in messages {
                    message.ack(AckStatus::Delivered);
                }
                Ok(())
            }
            Err(Failure { error, status, body }) => {
                let failures = messages.into_iter().map(|m| (m, error.clone(), details(status, body.clone()))).collect();
                cx.output.fail_with_details(failures).await
            }
        }
    }
}

/// At most `limit` request starts in any window of `window`; no limit when `limit` is 0.
struct RateLimiter {
    limit: usize,
    window: Duration,
    starts: VecDeque<Instant>,
}

impl RateLimiter {
    fn new(limit: u64, window_ms: u64) -> Self {
        Self { limit: usize::try_from(limit).unwrap_or(usize::MAX), window: Duration::from_millis(window_ms), starts: VecDeque::new() }
    }

    /// When the next request may start, if not now.
    fn not_before(&mut self) -> Option<Instant> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        while self.starts.front().is_some_and(|&t| t + self.window <= now) {
            self.starts.pop_front();
        }
        if self.starts.len() >= self.limit { self.starts.front().map(|&oldest| oldest + self.window) } else { None }
    }

    /// Records a request's start.
    fn started(&mut self) {
        if self.limit > 0 {
            self.starts.push_back(Instant::now());
        }
    }
}
