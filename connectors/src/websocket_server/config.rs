//! Configuration of the `websocket_server` source (the listener and its hub) and sink (delivery
//! through a server of the same pipeline).

use std::path::PathBuf;
use std::time::Duration;

use runnel_engine::ListenerLimits;
use serde::Deserialize;

use super::auth::AuthConfig;
use super::template::Template;

/// A WebSocket server: what clients publish comes out of this source (port `out`), their
/// connections, subscriptions and departures come out of port `events`, and
/// `websocket_server` sinks deliver to its clients.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketServerConfig {
    /// The address to listen on, such as `127.0.0.1:8080` (port 0 picks a free port).
    pub address: String,
    /// The URL path of the WebSocket endpoint.
    #[serde(default = "default_path")]
    pub path: String,
    /// A folder of static files served on the same listener (`/` is `index.html`), for the
    /// app's page; relative to the pipeline file.
    pub static_dir: Option<PathBuf>,
    /// Who may connect; without it, anyone who reaches the address.
    pub auth: Option<AuthConfig>,
    /// Clients connected at once, at most; more are refused with HTTP 503.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections that are not WebSockets yet, at most: reading their request, being answered
    /// (a static file), or kept alive between two requests. One more is answered HTTP 503 and
    /// closed at once, counted in `runnel_listener_connections_refused_total`, so clients that
    /// never finish a request cannot hold the process's file descriptors. Established
    /// WebSockets count against `max_connections` instead.
    #[serde(default = "default_max_pending_connections")]
    pub max_pending_connections: usize,
    /// Time a client has to send a complete request head, in milliseconds, counted from the
    /// connection and, on a kept-alive connection, from the previous response: a client that
    /// sends half a request is closed after it, and so is a kept-alive connection left idle.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time a connection that is not a WebSocket may move no byte either way, in milliseconds
    /// (a client that stops reading a static file, say), before it is closed. WebSockets are
    /// watched by `ping_interval_ms` and `pong_timeout_ms` instead.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Channels one client may be subscribed to at once, besides its private channel; a
    /// subscription past it is answered with an error frame (and counted in
    /// `runnel_websocket_server_subscriptions_refused_total`).
    #[serde(default = "default_max_subscriptions")]
    pub max_subscriptions: usize,
    /// The largest frame (and message) a client may send, in bytes; a larger one closes its
    /// connection (WebSocket close code 1009).
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// Frames waiting to be written to one client, at most. What happens beyond it is
    /// `slow_consumer`'s choice, so a client that reads slowly costs bounded memory and never
    /// slows the pipeline or the other clients down. A sink delivers a batch at once, so keep
    /// it at least the pipeline's `batch_size` (128 by default) for bursty channels.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// What to do with a client whose queue is full.
    #[serde(default)]
    pub slow_consumer: SlowConsumer,
    /// Each client's own channel, to which it alone is subscribed: a template with
    /// `{client_id}`, such as `chat/in/{client_id}`. Clients cannot subscribe to each other's.
    pub private_channel: Option<Template>,
    /// The channel of frames that are not `{"op": ...}` requests: a client may then send bare
    /// JSON messages. Without it, such frames are answered with an error.
    pub default_channel: Option<String>,
    /// If set, published JSON objects get this field added by the server, holding the sender's
    /// `client_id` and `user`, so that blocks (jq cannot read metadata) and stored messages
    /// know who sent them, and a client cannot pretend to be another.
    pub sender_field: Option<String>,
    /// What a new subscriber of a channel is sent first.
    #[serde(default)]
    pub history: HistoryConfig,
    /// Quiet time before the server pings a client, in milliseconds; a client that sends
    /// nothing (not even the pong) for this long plus `pong_timeout_ms` is disconnected.
    #[serde(default = "default_ping_interval_ms")]
    pub ping_interval_ms: u64,
    /// See `ping_interval_ms`.
    #[serde(default = "default_pong_timeout_ms")]
    pub pong_timeout_ms: u64,
    /// Wrap delivered messages as `{"channel": ..., "data": ...}` (the default), so a client
    /// subscribed to several channels knows where each came from; `false` sends bare messages.
    #[serde(default = "yes")]
    pub envelope: bool,
}

/// What happens when a client's queue is full.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SlowConsumer {
    /// Drop the client's oldest queued frames to make room (counted in
    /// `runnel_websocket_server_frames_dropped_total`). The default.
    #[default]
    DropOldest,
    /// Disconnect the client (close code 1008); it may reconnect and catch up from history.
    Disconnect,
}

/// Channel history: the last messages delivered to a channel, replayed to new subscribers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Messages kept per channel (0 keeps none). Private channels keep none.
    #[serde(default)]
    pub size: usize,
    /// An NDJSON store read when the server starts, so history survives restarts: typically
    /// the file a `file` sink of the same pipeline writes. Missing is fine (nothing yet).
    pub file: Option<PathBuf>,
    /// The channel of each stored message, as a template over its fields; required with `file`.
    pub channel: Option<Template>,
}

/// Delivers each message to the clients of a `websocket_server` source of the same pipeline:
/// to the subscribers of the channel its `channel` template names.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketServerSinkConfig {
    /// The name of the `websocket_server` source whose clients this sink delivers to.
    pub server: String,
    /// The channel to deliver each message to: `chat/pub/{room}` from a field, `{channel}` for
    /// the channel a client published on, `chat/in/{client_id}` for the sender's private channel.
    pub channel: Template,
    /// Keep what this sink delivers in the channel's history (when the server keeps history).
    #[serde(default = "yes")]
    pub history: bool,
}

fn default_path() -> String {
    "/ws".to_owned()
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_pending_connections() -> usize {
    512
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_max_subscriptions() -> usize {
    1_000
}
fn default_max_frame_bytes() -> usize {
    64 * 1024
}
fn default_queue() -> usize {
    1024
}
fn default_ping_interval_ms() -> u64 {
    30_000
}
fn default_pong_timeout_ms() -> u64 {
    10_000
}
fn yes() -> bool {
    true
}

impl WebSocketServerConfig {
    /// The limits of its listener on connections that are not WebSockets.
    pub(crate) fn listener_limits(&self) -> ListenerLimits {
        ListenerLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_pending: self.max_pending_connections,
        }
    }

    /// Every problem `validate` reports.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.address.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!("`address` `{}` is not an IP address and port", self.address));
        }
        if !self.path.starts_with('/') {
            problems.push("`path` must start with `/`".to_owned());
        }
        let limits = [
            ("max_connections", self.max_connections),
            ("max_pending_connections", self.max_pending_connections),
            ("max_subscriptions", self.max_subscriptions),
            ("max_frame_bytes", self.max_frame_bytes),
            ("queue", self.queue),
        ];
        for (field, value) in limits {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        if self.history.size > self.queue {
            problems.push(format!("`history.size` ({}) cannot exceed `queue` ({})", self.history.size, self.queue));
        }
        if self.history.file.is_some() && self.history.channel.is_none() {
            problems.push("`history.file` needs `history.channel` to know each stored message's channel".to_owned());
        }
        if self.history.file.is_some() && self.history.size == 0 {
            problems.push("`history.file` needs `history.size` of at least 1".to_owned());
        }
        if let Some(private) = &self.private_channel {
            if private.fields().collect::<Vec<_>>() != ["client_id"] || private.prefix().is_empty() {
                problems.push("`private_channel` must be a prefix followed by `{client_id}`, such as `chat/in/{client_id}`".to_owned());
            }
        }
        if self.ping_interval_ms == 0 || self.pong_timeout_ms == 0 {
            problems.push("`ping_interval_ms` and `pong_timeout_ms` must be at least 1".to_owned());
        }
        if self.header_read_timeout_ms == 0 || self.idle_timeout_ms == 0 {
            problems.push("`header_read_timeout_ms` and `idle_timeout_ms` must be at least 1".to_owned());
        }
        if let Some(auth) = &self.auth {
            problems.extend(auth.problems());
        }
        problems
    }
}
