//! One client connection: its reader (requests and publications, which wait while the pipeline
//! is busy) and its writer (the client's queue, pings, and the close), run side by side in the
//! connection's task until either ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value};

use super::client::{Client, Close};
use super::hub::{Hub, Inbound, Slot, check_name};
use super::protocol::{self, BadRequest, Request};

/// How long a closing client gets to take its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a connection ended, as the `reason` of `disconnected` events and of
/// `runnel_websocket_server_disconnects_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Closed,
    Timeout,
    Error,
    SlowConsumer,
    TooLarge,
    Shutdown,
}

impl Ended {
    fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::SlowConsumer => "slow_consumer",
            Self::TooLarge => "too_large",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Serves one upgraded connection until it ends.
pub(crate) async fn serve(hub: Arc<Hub>, socket: WebSocket, user: Option<Arc<str>>, subscriptions: Vec<String>, remote: SocketAddr, slot: Slot) {
    let client = hub.join(user);
    event(&hub, &client, "connected", None, [("remote", Value::from(remote.to_string()))]).await;
    for channel in subscriptions {
        subscribe(&hub, &client, &channel).await;
    }
    let (sink, stream) = socket.split();
    let reader = read(&hub, &client, stream);
    let writer = write(&hub, &client, sink);
    tokio::pin!(reader, writer);
    let ended = tokio::select! {
        ended = &mut reader => {
            // The writer finishes the closing handshake: it says why the server closes, after
            // what is queued, or answers the client's own close.
            let why = match ended {
                Ended::TooLarge => Some(Close::TooLarge),
                Ended::Closed => Some(Close::Peer),
                _ => None,
            };
            if let Some(why) = why {
                client.close(why);
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, &mut writer).await;
            }
            ended
        }
        ended = &mut writer => ended,
    };
    client.kill.cancel();
    let channels: Vec<Value> = hub.leave(&client).iter().map(|c| Value::from(&**c)).collect();
    hub.metrics().disconnects(ended.label()).inc();
    let details = [("channels", Value::from(channels)), ("reason", Value::from(ended.label()))];
    event(&hub, &client, "disconnected", None, details).await;
    drop(slot);
}

async fn event<const N: usize>(hub: &Hub, client: &Arc<Client>, kind: &str, channel: Option<Arc<str>>, details: [(&str, Value); N]) {
    let mut value = Map::new();
    value.insert("event".into(), Value::from(kind));
    value.insert("client_id".into(), Value::from(&*client.id));
    value.insert("user".into(), client.user.as_deref().map_or(Value::Null, Value::from));
    if let Some(channel) = &channel {
        value.insert("channel".into(), Value::from(&**channel));
    }
    value.extend(details.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    value.insert("ts".into(), Value::from(ts));
    hub.publish(Inbound::Event { client: client.clone(), value: Value::Object(value), channel }).await;
}

async fn subscribe(hub: &Hub, client: &Arc<Client>, channel: &str) {
    match hub.subscribe(client, channel) {
        Ok(true) => event(hub, client, "subscribed", Some(Arc::from(channel)), []).await,
        Ok(false) => {}
        Err(error) => {
            client.push(&[protocol::error(&error.to_string())]);
        }
    }
}

/// Reads the client's frames until it leaves, goes quiet too long, or breaks the protocol.
async fn read(hub: &Hub, client: &Arc<Client>, mut stream: SplitStream<WebSocket>) -> Ended {
    let quiet_limit = hub.settings.ping_interval + hub.settings.pong_timeout;
    loop {
        let frame = match tokio::time::timeout(quiet_limit, stream.next()).await {
            Err(_) => return Ended::Timeout,
            Ok(None) => return Ended::Closed,
            Ok(Some(Err(error))) => {
                tracing::debug!(client = %client.id, %error, "websocket client connection failed");
                let error = error.into_inner();
                let too_large = matches!(error.downcast_ref(), Some(tokio_tungstenite::tungstenite::Error::Capacity(_)));
                return if too_large { Ended::TooLarge } else { Ended::Error };
            }
            Ok(Some(Ok(frame))) => frame,
        };
        match frame {
            Message::Text(text) => handle(hub, client, &text, text.len()).await,
            Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => handle(hub, client, text, bytes.len()).await,
                Err(_) => {
                    client.push(&[protocol::error("binary frames must hold UTF-8 JSON")]);
                }
            },
            Message::Close(_) => return Ended::Closed,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

async fn handle(hub: &Hub, client: &Arc<Client>, text: &str, size: usize) {
    match protocol::parse(text) {
        Ok(Request::Subscribe(channel)) => subscribe(hub, client, &channel).await,
        Ok(Request::Unsubscribe(channel)) => {
            if hub.unsubscribe(client, &channel) {
                event(hub, client, "unsubscribed", Some(Arc::from(channel.as_str())), []).await;
            }
        }
        Ok(Request::Publish { channel, data, exact }) => {
            let channel = match channel.map(Arc::from).or_else(|| hub.settings.default_channel.clone()) {
                Some(channel) => channel,
                None => {
                    client.push(&[protocol::error("expected {\"op\": \"publish\", \"channel\": ..., \"data\": ...}")]);
                    return;
                }
            };
            if let Err(error) = check_name(&channel) {
                client.push(&[protocol::error(&error)]);
                return;
            }
            hub.publish(Inbound::Publish { client: client.clone(), channel, data, exact, size }).await;
        }
        Err(BadRequest::Refused(error)) => {
            client.push(&[protocol::error(&error)]);
        }
        Err(BadRequest::NotJson(error)) => {
            client.push(&[protocol::error(&format!("invalid JSON: {error}"))]);
            let error = format!("invalid JSON from client {}: {error}", client.id);
            hub.publish(Inbound::Invalid { client: client.clone(), text: text.to_owned(), error }).await;
        }
    }
}

/// Writes the client's queue, pings it when quiet, and closes the connection when asked.
async fn write(hub: &Hub, client: &Arc<Client>, mut sink: SplitSink<WebSocket, Message>) -> Ended {
    let interval = hub.settings.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut frames = Vec::new();
    // Created once: polling a fresh cancellation future on every frame costs a lock each time.
    let killed = client.kill.cancelled();
    tokio::pin!(killed);
    loop {
        let close = tokio::select! {
            biased;
            () = &mut killed => return close_now(&mut sink, Close::SlowConsumer).await,
            close = client.next(&mut frames) => close,
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return Ended::Error;
                }
                continue;
            }
        };
        if !frames.is_empty() {
            let written = tokio::select! {
                biased;
                () = &mut killed => return close_now(&mut sink, Close::SlowConsumer).await,
                written = write_frames(&mut sink, &mut frames) => written,
            };
            if written.is_err() {
                return Ended::Error;
            }
        }
        if let Some(why) = close {
            return close_now(&mut sink, why).await;
        }
    }
}

async fn write_frames(sink: &mut SplitSink<WebSocket, Message>, frames: &mut Vec<Utf8Bytes>) -> Result<(), axum::Error> {
    for frame in frames.drain(..) {
        sink.feed(Message::Text(frame)).await?;
    }
    sink.flush().await
}

async fn close_now(sink: &mut SplitSink<WebSocket, Message>, why: Close) -> Ended {
    let (code, reason, ended) = match why {
        Close::Shutdown => (1001, "the server is shutting down", Ended::Shutdown),
        Close::SlowConsumer => (1008, "slow consumer: too many frames queued", Ended::SlowConsumer),
        Close::TooLarge => (1009, "frame too large", Ended::TooLarge),
        Close::Peer => {
            // The answer to the client's close is already queued inside the socket.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.flush()).await;
            return Ended::Closed;
        }
    };
    let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(frame)).await;
    ended
}
