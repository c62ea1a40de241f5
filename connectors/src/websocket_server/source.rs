//! The `websocket_server` source: binds the listener and creates the hub when built, serves
//! connections while running, and emits what clients publish (port `out`) and their lifecycle
//! events (port `events`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use runnel_engine::{
    AckTracker, Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, HttpListener, Message, Metadata, Origin, Resource,
    Resources, Role, RunContext, Stream, async_trait,
};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::client::Client;
use super::config::WebSocketServerConfig;
use super::http::{Http, router};
use super::hub::{Hub, Inbound, Lease, Settings, resource_key};
use super::template::Template;

/// The port of lifecycle events.
pub const EVENTS_PORT: &str = "events";

impl Component for WebSocketServerConfig {
    const TYPE: &'static str = "websocket_server";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "WebSocket server with channels: emits what clients publish (`out`) and their lifecycle events (`events`); `websocket_server` sinks deliver to its clients.";
    const EXAMPLE: &'static str = r#"address = "127.0.0.1:8080"
path = "/ws"
static_dir = "public"
private_channel = "chat/in/{client_id}"
sender_field = "from"
queue = 256
slow_consumer = "drop_oldest"
auth = { tokens = ["${CHAT_TOKEN:-let-me-in}"] }
history = { size = 50, file = "chat-log.ndjson", channel = "chat/pub/{room}" }"#;
}

#[async_trait]
impl BlockConfig for WebSocketServerConfig {
    fn outputs(&self) -> Vec<String> {
        vec![runnel_engine::DEFAULT_PORT.to_owned(), EVENTS_PORT.to_owned()]
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::new("listen", self.address.clone())]
    }

    fn provides(&self) -> Vec<&'static str> {
        vec![super::SERVER_KIND]
    }

    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let listener = TcpListener::bind(&self.address).await.map_err(|e| BuildError::Invalid(format!("cannot listen on {}: {e}", self.address)))?;
        let address = listener.local_addr()?;
        let settings = Settings {
            queue: self.queue,
            slow_consumer: self.slow_consumer,
            envelope: self.envelope,
            history: self.history.size,
            private_channel: self.private_channel.clone(),
            default_channel: self.default_channel.as_deref().map(Arc::from),
            max_connections: self.max_connections,
            max_subscriptions: self.max_subscriptions,
            ping_interval: Duration::from_millis(self.ping_interval_ms),
            pong_timeout: Duration::from_millis(self.pong_timeout_ms),
        };
        let (hub, inbound) = Hub::new(settings, super::metrics::ServerMetrics::register(&cx.metrics, &cx.name));
        if let (Some(file), Some(channel)) = (&self.history.file, &self.history.channel) {
            seed_history(&hub, &cx.resolve(file), channel).await?;
        }
        cx.resources.insert(resource_key(&cx.name), hub.clone());
        cx.resources.insert(address_key(&cx.name), address);
        tracing::info!(node = %cx.name, %address, path = %self.path, "websocket server listening");
        let http = Http {
            hub: hub.clone(),
            auth: self.auth.clone(),
            static_dir: self.static_dir.as_deref().map(|d| cx.resolve(d)),
            max_frame_bytes: self.max_frame_bytes,
        };
        Ok(BuiltBlock::task(WebSocketServer {
            listener: HttpListener::new(listener, &cx.name, self.listener_limits(), &cx.metrics),
            path: self.path.clone(),
            lease: hub.lease(),
            http: Arc::new(http),
            inbound,
            sender_field: self.sender_field.clone(),
        }))
    }
}

fn address_key(server: &str) -> String {
    format!("websocket_server:{server}:address")
}

/// The address the server called `server` listens on (useful with port 0), once the pipeline
/// has started. Taken: a second call returns `None`.
pub fn take_address(resources: &Resources, server: &str) -> Option<SocketAddr> {
    resources.take(&address_key(server))
}

/// Loads the last messages of each channel from an NDJSON store. Lines that are not JSON or
/// name no channel are skipped (and counted in a warning).
pub(super) async fn seed_history(hub: &Hub, file: &Path, channel: &Template) -> Result<(), BuildError> {
    // Bytes, not text: a line that is not UTF-8 (a torn write) is skipped like any bad line,
    // and does not keep the server from starting.
    let bytes = match tokio::fs::read(file).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BuildError::Invalid(format!("cannot read history file {}: {e}", file.display()))),
    };
    let mut skipped = 0_usize;
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let parsed = std::str::from_utf8(line).map_err(|e| e.to_string()).and_then(|l| serde_json::from_str::<Value>(l).map_err(|e| e.to_string()));
        match parsed.and_then(|v| channel.render(&v, None).map(|c| (c, v))) {
            Ok((name, value)) => hub.seed(&name, Utf8Bytes::from(value.to_string())),
            Err(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        tracing::warn!(file = %file.display(), skipped, "history lines skipped: not UTF-8 JSON, or no channel");
    }
    Ok(())
}

/// The running `websocket_server` source.
#[derive(Debug)]
pub struct WebSocketServer {
    listener: HttpListener,
    path: String,
    lease: Lease,
    http: Arc<Http>,
    inbound: mpsc::Receiver<Inbound>,
    sender_field: Option<String>,
}

#[async_trait]
impl Block for WebSocketServer {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let Self { listener, path, lease, http, mut inbound, sender_field } = *self;
        let stop = cx.shutdown.clone();
        // It returns only after `stop`, but the loop stops at the shutdown first: dropping the
        // server closes the connections that are not WebSockets yet.
        let server = listener.serve(router(http, &path), async move { stop.cancelled().await });
        tokio::pin!(server);
        let mut emitter = Emitter {
            node: cx.name.clone(),
            tracker: cx.ack_metrics_tracker(),
            events: cx.output.port_id(EVENTS_PORT).unwrap_or(usize::MAX),
            sender_field,
            offset: 0,
            last_client: None,
        };
        let max = cx.batch_size.get();
        let mut received = Vec::with_capacity(max);
        loop {
            tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => break,
                () = &mut server => break,
                count = inbound.recv_many(&mut received, max) => {
                    if count == 0 {
                        break;
                    }
                    emitter.emit(&mut received, &mut cx).await?;
                }
            }
        }
        // Clients stay connected while the sinks deliver what is still in the pipeline; the
        // last lease closes them.
        drop(lease);
        Ok(())
    }
}

/// Turns what clients did into messages.
struct Emitter {
    node: Arc<str>,
    tracker: AckTracker,
    events: usize,
    sender_field: Option<String>,
    offset: u64,
    /// The stream of the client the last message came from: clients often send several.
    last_client: Option<Arc<Stream>>,
}

impl Emitter {
    async fn emit(&mut self, received: &mut Vec<Inbound>, cx: &mut RunContext) -> Result<(), BlockError> {
        let now = std::time::Instant::now();
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let (mut published, mut events, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for item in received.drain(..) {
            let offset = self.offset;
            self.offset += 1;
            match item {
                Inbound::Publish { client, channel, mut data, exact, size } => {
                    if let (Some(field), Value::Object(map)) = (&self.sender_field, &mut data) {
                        map.insert(field.clone(), sender(&client));
                    }
                    let mut meta = self.meta(&client, Some(&channel), offset, timestamp, size);
                    meta.key = Some(Bytes::copy_from_slice(channel.as_bytes()));
                    meta.exact_numbers = exact;
                    let mut message = Message::with_meta(data, meta);
                    message.acks = self.tracker.token_at(offset, now);
                    published.push(message);
                }
                Inbound::Event { client, value, channel } => {
                    let mut meta = self.meta(&client, channel.as_ref(), offset, timestamp, 0);
                    meta.set_attribute("event", value["event"].clone());
                    let mut message = Message::with_meta(value, meta);
                    message.acks = self.tracker.token_at(offset, now);
                    events.push(message);
                }
                Inbound::Invalid { client, text, error } => {
                    let size = text.len();
                    let mut message = Message::with_meta(Value::String(text), self.meta(&client, None, offset, timestamp, size));
                    message.acks = self.tracker.token_at(offset, now);
                    failures.push((message, error));
                }
            }
        }
        cx.output.send(published).await?;
        cx.output.send_to(self.events, events).await?;
        cx.output.fail(failures).await
    }

    /// The stream `client`'s messages come from.
    fn stream_of(&mut self, client: &Client) -> &Arc<Stream> {
        let same = |last: &Arc<Stream>| last.name.as_deref().and_then(|n| n.strip_prefix("client ")) == Some(&*client.id);
        if !self.last_client.as_ref().is_some_and(same) {
            self.last_client = None;
        }
        let node = &self.node;
        self.last_client.get_or_insert_with(|| Stream::new(node.clone(), Some(Arc::from(format!("client {}", client.id)))))
    }

    fn meta(&mut self, client: &Client, channel: Option<&Arc<str>>, offset: u64, timestamp: i64, size: usize) -> Metadata {
        let mut attributes = Map::new();
        attributes.insert("client_id".into(), Value::from(&*client.id));
        if let Some(user) = &client.user {
            attributes.insert("user".into(), Value::from(&**user));
        }
        if let Some(channel) = channel {
            attributes.insert("channel".into(), Value::from(&**channel));
        }
        Metadata {
            timestamp: Some(timestamp),
            origin: Origin::at(self.stream_of(client), offset),
            attributes: Some(Arc::new(attributes)),
            size: u32::try_from(size).unwrap_or(u32::MAX),
            ..Metadata::default()
        }
    }
}

fn sender(client: &Client) -> Value {
    let mut from = Map::new();
    from.insert("client_id".into(), Value::from(&*client.id));
    from.insert("user".into(), client.user.as_deref().map_or(Value::Null, Value::from));
    Value::Object(from)
}
