//! The `websocket` sink: a client that sends each message as one text frame. While it is
//! disconnected it reads no input, so the pipeline waits (backpressure) instead of dropping.

use futures::{SinkExt, StreamExt};
use runnel_engine::{
    AckStatus, Batch, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Role, RunContext, ack_batch, async_trait,
};
use tokio_tungstenite::tungstenite::{Message as Frame, Utf8Bytes};

use super::config::{KeepaliveConfig, ReconnectConfig, WebSocketSinkConfig};
use super::connect::{Backoff, Endpoint, Liveness, Tick, WsStream, connect_with_retry, jitter_seed};
use super::metrics::ClientMetrics;

/// Bytes of frames the sink gathers from batches already queued before it flushes.
const WRITE_BYTES: usize = 256 * 1024;

impl Component for WebSocketSinkConfig {
    const TYPE: &'static str = "websocket";
    const ROLE: Role = Role::Sink;
    const DESCRIPTION: &'static str = "WebSocket client: sends each message as a text frame; reconnects, and holds input back while disconnected.";
    const EXAMPLE: &'static str = r#"url = "ws://127.0.0.1:9000/ingest"
headers = { Authorization = "Bearer ${TOKEN:-secret}" }
reconnect = { initial_ms = 250, max_ms = 30000 }"#;
}

#[async_trait]
impl BlockConfig for WebSocketSinkConfig {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = self.connection().problems();
        if !self.subscribe.is_empty() {
            problems.push("`subscribe` is for the `websocket` source: a sink sends its messages".to_owned());
        }
        problems
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let endpoint = self.connection().endpoint(|p| cx.resolve(p)).map_err(|e| BuildError::Other(Box::new(e)))?;
        let metrics = ClientMetrics::register(&cx.metrics, &cx.name);
        Ok(BuiltBlock::task(WebSocketSink { endpoint, reconnect: self.reconnect, keepalive: self.keepalive, metrics }))
    }
}

/// The running `websocket` sink.
#[derive(Debug)]
pub struct WebSocketSink {
    endpoint: Endpoint,
    metrics: ClientMetrics,
    reconnect: ReconnectConfig,
    keepalive: KeepaliveConfig,
}

#[async_trait]
impl Block for WebSocketSink {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let ClientMetrics { connected, reconnects } = self.metrics.clone();
        let mut backoff = Backoff::new(self.reconnect, jitter_seed(&cx.name));
        let mut ws: Option<(WsStream, Liveness)> = None;
        let mut connections = 0_u64;
        let mut lost = false;
        loop {
            let next = match &mut ws {
                Some((stream, liveness)) => match idle(stream, liveness, &mut cx).await {
                    Idle::Input(next) => next,
                    Idle::Lost(reason) => {
                        tracing::warn!(url = %self.endpoint.url(), %reason, "websocket connection lost");
                        ws = None;
                        lost = true;
                        connected.set(0);
                        continue;
                    }
                },
                None => cx.input.next().await,
            };
            let Some(mut batch) = next else { break };
            let timer = cx.metrics.batch_duration.start_timer();
            let mut frames = encode(&batch);
            let mut bytes: usize = frames.iter().map(|f| f.len()).sum();
            while bytes < WRITE_BYTES {
                let Some(more) = cx.input.next_ready() else { break };
                let more_frames = encode(&more);
                bytes += more_frames.iter().map(|f| f.len()).sum::<usize>();
                frames.extend(more_frames);
                batch.extend(more);
            }
            // Until the frames are written, nothing more is read: backpressure, not loss.
            loop {
                let (stream, _) = match &mut ws {
                    Some(open) => open,
                    None => {
                        // Retried until it connects, or until the pipeline shuts down: then the
                        // server is still unreachable, and what is left fails (its sources
                        // replay it) instead of holding the shutdown until its deadline.
                        let Some(stream) = connect_with_retry(&self.endpoint, &mut backoff, Some(&cx.shutdown), lost).await else {
                            let mut undelivered = batch.len();
                            ack_batch(batch, AckStatus::Failed);
                            while let Some(rest) = cx.input.next().await {
                                undelivered += rest.len();
                                ack_batch(rest, AckStatus::Failed);
                            }
                            tracing::warn!(url = %self.endpoint.url(), undelivered, "websocket server unreachable at shutdown; messages not delivered (failed, so their sources can replay them)");
                            connected.set(0);
                            return Ok(());
                        };
                        connections += 1;
                        if connections > 1 {
                            reconnects.inc();
                        }
                        connected.set(1);
                        ws.insert((stream, Liveness::new(self.keepalive)))
                    }
                };
                match write(stream, &frames).await {
                    Ok(()) => {
                        backoff.reset();
                        lost = false;
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(url = %self.endpoint.url(), %error, "websocket write failed; reconnecting to send the batch again");
                        ws = None;
                        lost = true;
                        connected.set(0);
                    }
                }
            }
            deliver(batch);
            timer.observe_duration();
        }
        if let Some((mut stream, _)) = ws {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.close(None)).await;
        }
        connected.set(0);
        Ok(())
    }
}

fn deliver(batch: Batch) {
    ack_batch(batch, AckStatus::Delivered);
}

fn encode(batch: &Batch) -> Vec<Utf8Bytes> {
    batch.iter().map(|m| Utf8Bytes::from(crate::codec::encode_text(m))).collect()
}

async fn write(ws: &mut WsStream, frames: &[Utf8Bytes]) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    for frame in frames {
        ws.feed(Frame::Text(frame.clone())).await?;
    }
    ws.flush().await
}

enum Idle {
    Input(Option<Batch>),
    Lost(String),
}

/// Waits for input while answering the server: frames it sends are read (and ignored) so that
/// pings get their pongs and a close is noticed; quiet connections get pings.
async fn idle(ws: &mut WsStream, liveness: &mut Liveness, cx: &mut RunContext) -> Idle {
    loop {
        tokio::select! {
            next = cx.input.next() => return Idle::Input(next),
            frame = ws.next() => match frame {
                Some(Ok(Frame::Close(_))) | None => return Idle::Lost("the server closed the connection".to_owned()),
                Some(Err(error)) => return Idle::Lost(error.to_string()),
                Some(Ok(_)) => liveness.seen(),
            },
            tick = liveness.tick() => match tick {
                Tick::Ping => if let Err(error) = ws.send(Frame::Ping(Default::default())).await {
                    return Idle::Lost(error.to_string());
                },
                Tick::Dead => return Idle::Lost("no answer to a ping in time".to_owned()),
            },
        }
    }
}
