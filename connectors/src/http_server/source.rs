//! The `http_server` source: binds the listener when built; while running, serves requests and
//! puts their messages in the pipeline; at shutdown, stops accepting, answers the requests in
//! flight (their messages enter the pipeline whole, or they get 503), and lets the sinks confirm
//! what `ack = "delivered"` requests wait for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use runnel_engine::{
    AckTracker, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, HttpListener, Message, Origin, Output, Resource,
    Resources, Role, RunContext, Stream, async_trait,
};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::config::{HttpServerConfig, RouteConfig};
use super::http::{Server, Submission, router};
use super::metrics::ServerMetrics;

/// Requests whose messages wait for the source's task to put them in the pipeline, at most;
/// more wait to be queued (both within `backpressure_timeout_ms`). Few: the wait that matters is
/// for room in the pipeline, and `max_concurrent_requests` bounds the requests anyway.
const QUEUED_REQUESTS: usize = 16;

impl Component for HttpServerConfig {
    const TYPE: &'static str = "http_server";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "HTTP server for webhooks and request/response: routes turn JSON, JSON-array, NDJSON, binary or multipart bodies into messages; answers 202 once they are in the pipeline, 200 once delivered, or with an `http_response` sink's reply.";
    const EXAMPLE: &'static str = r#"address = "127.0.0.1:8080"
ack = "delivered"
headers = ["X-GitHub-Event"]
max_body_bytes = 1048576
auth = { tokens = ["${HOOK_TOKEN:-let-me-in}"] }
signature = { header = "X-Hub-Signature-256", algorithm = "sha256", secret = "${HOOK_SECRET:-a-secret-of-16-bytes}", prefix = "sha256=" }
routes = [{ method = "POST", path = "/events" }, { method = "POST", path = "/hooks/{name}", body = "json" }]"#;
}

#[async_trait]
impl BlockConfig for HttpServerConfig {
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::new("listen", self.address.clone())]
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let listener = TcpListener::bind(&self.address).await.map_err(|e| BuildError::Invalid(format!("cannot listen on {}: {e}", self.address)))?;
        let address = listener.local_addr()?;
        cx.resources.insert(address_key(&cx.name), address);
        tracing::info!(node = %cx.name, %address, "http server listening");
        let mut config = self.clone();
        for files in &mut config.files {
            files.dir = cx.resolve(&files.dir);
        }
        Ok(BuiltBlock::task(HttpServer {
            listener: HttpListener::new(listener, &cx.name, self.listener_limits(), &cx.metrics),
            metrics: ServerMetrics::register(&cx.metrics, &cx.name),
            config,
        }))
    }
}

fn address_key(server: &str) -> String {
    format!("http_server:{server}:address")
}

/// The address the server called `server` listens on (useful with port 0), once the pipeline
/// has started. Taken: a second call returns `None`.
pub fn take_address(resources: &Resources, server: &str) -> Option<SocketAddr> {
    resources.take(&address_key(server))
}

/// The running `http_server` source.
#[derive(Debug)]
pub struct HttpServer {
    listener: HttpListener,
    metrics: ServerMetrics,
    config: HttpServerConfig,
}

#[async_trait]
impl Block for HttpServer {
    async fn run(self: Box<Self>, cx: RunContext) -> Result<(), BlockError> {
        let Self { listener, metrics, config } = *self;
        let (submissions, queued) = mpsc::channel(QUEUED_REQUESTS);
        let server = Server {
            auth: config.auth.clone(),
            verifier: config.signature.as_ref().map(|s| s.verifier()),
            headers: config.headers.iter().filter_map(|h| h.as_str().try_into().ok()).collect(),
            request_field: config.request_field.clone(),
            cors: config.cors.clone(),
            max_body_bytes: config.max_body_bytes,
            slots: Semaphore::new(config.max_concurrent_requests),
            backpressure_timeout: Duration::from_millis(config.backpressure_timeout_ms),
            delivery_timeout: Duration::from_millis(config.delivery_timeout_ms),
            retry_after: HeaderValue::from(config.retry_after_secs),
            metrics,
            acks: cx.metrics.acks.clone(),
            submissions,
        };
        let routes: &[RouteConfig] = &config.routes;
        let app = router(Arc::new(server), routes, config.ack, &config.files);
        let stop = cx.shutdown.clone();
        // Served alongside the pump, in this task: the listener keeps accepting (and refusing
        // with 503) while the pump waits for room in the pipeline.
        let serving = listener.serve(app, async move { stop.cancelled().await });
        let pump = Pump { tracker: cx.ack_metrics_tracker(), from: Stream::new(cx.name.clone(), None), offset: 0 };
        let pumping = pump.run(queued, cx.output, cx.shutdown, cx.batch_size.get());
        tokio::pin!(serving, pumping);
        let (pumped, served) = tokio::select! {
            pumped = &mut pumping => (pumped, false),
            () = &mut serving => (pumping.await, true),
        };
        // The pipeline's end of the source is closed: the sinks finish what is in it, which
        // requests waiting for delivery need. A failed pump closes the connections at once.
        pumped?;
        if !served {
            serving.await;
        }
        Ok(())
    }
}

/// Puts submitted requests into the pipeline.
struct Pump {
    tracker: AckTracker,
    from: Arc<Stream>,
    offset: u64,
}

impl Pump {
    /// Until the shutdown; then the requests already queued go in too, and the output closes
    /// as this returns (later requests are answered 503).
    async fn run(
        mut self,
        mut queued: mpsc::Receiver<Submission>,
        mut output: Output,
        shutdown: runnel_engine::CancellationToken,
        max: usize,
    ) -> Result<(), BlockError> {
        let mut received = Vec::with_capacity(max);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                count = queued.recv_many(&mut received, max) => {
                    if count == 0 {
                        return Ok(());
                    }
                    self.forward(&mut received, &mut output, max).await?;
                }
            }
        }
        queued.close();
        while queued.recv_many(&mut received, max).await > 0 {
            self.forward(&mut received, &mut output, max).await?;
        }
        Ok(())
    }

    /// Sends the messages of the queued requests (those whose handler waits for them to enter,
    /// if it still waits), then tells the waiting handlers.
    async fn forward(&mut self, received: &mut Vec<Submission>, output: &mut Output, max: usize) -> Result<(), BlockError> {
        let now = Instant::now();
        let mut batch: Vec<Message> = Vec::new();
        let mut entered: Vec<oneshot::Sender<()>> = Vec::new();
        // The requests answered once queued share one acknowledgement record.
        let untracked: usize = received.iter().filter(|s| s.tracker.is_none()).map(|s| s.messages.len()).sum();
        let first = self.offset;
        let mut shared = self.tracker.tokens_at(first..first + untracked as u64, now);
        for submission in received.drain(..) {
            if let Some(handshake) = submission.handshake {
                if handshake.claim.swap(true, Ordering::AcqRel) {
                    continue;
                }
                entered.push(handshake.entered);
            }
            match &submission.tracker {
                Some(tracker) => {
                    let tokens = tracker.batch_at(0, submission.messages.len(), now);
                    for (message, acks) in submission.messages.into_iter().zip(tokens) {
                        batch.push(self.stamp(message, acks));
                    }
                }
                None => {
                    for message in submission.messages {
                        let acks = shared.next().unwrap_or_default();
                        batch.push(self.stamp(message, acks));
                    }
                }
            }
        }
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(max));
            output.send(std::mem::replace(&mut batch, rest)).await?;
        }
        for entered in entered {
            let _ = entered.send(());
        }
        Ok(())
    }

    /// The message's origin (the next offset) and acknowledgement tokens.
    fn stamp(&mut self, mut message: Message, acks: runnel_engine::Acks) -> Message {
        message.meta_mut().origin = Origin::at(&self.from, self.offset);
        message.acks = acks;
        self.offset += 1;
        message
    }
}
