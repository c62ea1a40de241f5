//! The `websocket` source: a client that emits every frame a server sends, reconnecting when the
//! connection is lost.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{FutureExt, SinkExt, StreamExt};
use runnel_engine::{
    AckTracker, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Metadata, Origin, Role, RunContext, Stream,
    async_trait,
};
use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

use super::config::{KeepaliveConfig, ReconnectConfig, WebSocketSourceConfig};
use super::connect::{Backoff, Endpoint, Liveness, Tick, WsStream, connect_with_retry, jitter_seed};
use super::metrics::ClientMetrics;
use crate::codec::Undecodable;

impl Component for WebSocketSourceConfig {
    const TYPE: &'static str = "websocket";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str =
        "WebSocket client: emits each frame a server sends (JSON); subscribes, keeps alive and reconnects with backoff.";
    const EXAMPLE: &'static str = r#"url = "wss://stream.example.com/v1"
subscribe = [{ op = "subscribe", channel = "trades" }]
headers = { Authorization = "Bearer ${TOKEN:-secret}" }
reconnect = { initial_ms = 250, max_ms = 30000 }
keepalive = { interval_ms = 20000, timeout_ms = 10000 }"#;
}

#[async_trait]
impl BlockConfig for WebSocketSourceConfig {
    fn validate(&self) -> Vec<String> {
        self.connection().problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let endpoint = self.connection().endpoint(|p| cx.resolve(p)).map_err(|e| BuildError::Other(Box::new(e)))?;
        let subscribe = self
            .subscribe
            .iter()
            .map(|m| match m {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect();
        let metrics = ClientMetrics::register(&cx.metrics, &cx.name);
        Ok(BuiltBlock::task(WebSocketSource { endpoint, subscribe, reconnect: self.reconnect, keepalive: self.keepalive, metrics }))
    }
}

/// The running `websocket` source.
#[derive(Debug)]
pub struct WebSocketSource {
    endpoint: Endpoint,
    subscribe: Vec<String>,
    reconnect: ReconnectConfig,
    keepalive: KeepaliveConfig,
    metrics: ClientMetrics,
}

/// How reading from one connection ended.
enum End {
    /// The pipeline is shutting down.
    Shutdown,
    /// The connection was lost; reconnect.
    Lost(String),
}

/// What the source reads, across connections.
struct Reader {
    /// This node and the URL it reads.
    from: Arc<Stream>,
    url: Arc<str>,
    tracker: AckTracker,
    /// Frames read so far, over every connection: each message's offset.
    offset: u64,
    /// Attributes shared by the messages of one connection.
    attributes: Arc<Map<String, Value>>,
}

#[async_trait]
impl Block for WebSocketSource {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let ClientMetrics { connected, reconnects } = self.metrics.clone();
        let mut backoff = Backoff::new(self.reconnect, jitter_seed(&cx.name));
        let mut reader = Reader {
            from: Stream::new(cx.name.clone(), Some(self.endpoint.url().clone())),
            url: self.endpoint.url().clone(),
            tracker: cx.ack_metrics_tracker(),
            offset: 0,
            attributes: Arc::default(),
        };
        let mut connections = 0_u64;
        loop {
            let shutdown = cx.shutdown.clone();
            let after_loss = connections > 0;
            let Some(mut ws) = connect_with_retry(&self.endpoint, &mut backoff, Some(&shutdown), after_loss).await else {
                return Ok(());
            };
            connections += 1;
            if connections > 1 {
                reconnects.inc();
            }
            connected.set(1);
            let mut attributes = Map::new();
            attributes.insert("url".into(), Value::from(&*reader.url));
            attributes.insert("connection".into(), Value::from(connections));
            reader.attributes = Arc::new(attributes);
            let read_before = reader.offset;
            let end = match self.send_subscriptions(&mut ws).await {
                Ok(()) => reader.read(&mut ws, &mut cx, Liveness::new(self.keepalive)).await?,
                Err(error) => End::Lost(format!("sending the subscriptions failed: {error}")),
            };
            connected.set(0);
            if reader.offset > read_before {
                // The connection worked: the next loss starts the backoff over.
                backoff.reset();
            }
            match end {
                End::Shutdown => {
                    // Best effort: the server learns we left; nothing is lost if it does not.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), ws.close(None)).await;
                    return Ok(());
                }
                End::Lost(reason) => tracing::warn!(url = %reader.url, %reason, "websocket connection lost; reconnecting"),
            }
        }
    }
}

impl WebSocketSource {
    async fn send_subscriptions(&self, ws: &mut WsStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        for text in &self.subscribe {
            ws.feed(Frame::text(text.as_str())).await?;
        }
        ws.flush().await
    }
}

impl Reader {
    /// Reads frames into batches until the connection is lost or the pipeline shuts down.
    async fn read(&mut self, ws: &mut WsStream, cx: &mut RunContext, mut liveness: Liveness) -> Result<End, BlockError> {
        let max = cx.batch_size.get();
        loop {
            let first = tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => return Ok(End::Shutdown),
                frame = ws.next() => frame,
                tick = liveness.tick() => {
                    match tick {
                        Tick::Ping => if let Err(error) = ws.send(Frame::Ping(Default::default())).await {
                            return Ok(End::Lost(format!("sending a ping failed: {error}")));
                        },
                        Tick::Dead => return Ok(End::Lost("no answer to a ping in time".to_owned())),
                    }
                    continue;
                }
            };
            liveness.seen();
            let mut frames = Vec::with_capacity(max);
            let mut end = None;
            let mut next = first;
            loop {
                match next {
                    None => end = Some(End::Lost("the server closed the connection".to_owned())),
                    Some(Err(error)) => end = Some(End::Lost(error.to_string())),
                    Some(Ok(Frame::Close(frame))) => {
                        let why = frame.map_or_else(String::new, |f| format!(" ({} {})", u16::from(f.code), f.reason));
                        end = Some(End::Lost(format!("the server closed the connection{why}")));
                    }
                    Some(Ok(frame)) => frames.push(frame),
                }
                if end.is_some() || frames.len() >= max {
                    break;
                }
                match ws.next().now_or_never() {
                    Some(frame) => next = frame,
                    None => break,
                }
            }
            self.emit(frames, cx).await?;
            if let Some(end) = end {
                return Ok(end);
            }
        }
    }

    /// Turns data frames into messages (failing those that are not JSON) and sends them.
    async fn emit(&mut self, frames: Vec<Frame>, cx: &mut RunContext) -> Result<(), BlockError> {
        let now = std::time::Instant::now();
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let mut batch = Vec::with_capacity(frames.len());
        let mut failures = Vec::new();
        for frame in frames {
            let bytes = match frame {
                Frame::Text(text) => bytes::Bytes::from(text),
                Frame::Binary(data) => data,
                _ => continue,
            };
            let offset = self.offset;
            self.offset += 1;
            let meta = Metadata {
                timestamp: Some(timestamp),
                origin: Origin::at(&self.from, offset),
                attributes: Some(self.attributes.clone()),
                size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                ..Metadata::default()
            };
            match crate::codec::decode(&bytes, meta) {
                Ok(mut message) => {
                    message.acks = self.tracker.token_at(offset, now);
                    batch.push(message);
                }
                Err(error) => {
                    let Undecodable { mut message, reason } = *error;
                    message.acks = self.tracker.token_at(offset, now);
                    failures.push((message, format!("invalid JSON in a frame from {}: {reason}", self.url)));
                }
            }
        }
        cx.output.send(batch).await?;
        cx.output.fail(failures).await
    }
}
