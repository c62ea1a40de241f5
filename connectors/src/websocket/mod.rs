//! The `websocket` client source and sink.
//!
//! - [`config`]: [`WebSocketSourceConfig`], [`WebSocketSinkConfig`] and the reconnect and
//!   keepalive settings they share.
//! - `connect`: the endpoint (URL, handshake headers, TLS with rustls), exponential backoff with
//!   jitter, and ping/pong liveness.
//! - [`source`]: emits every frame the server sends; after each (re)connection it sends the
//!   configured subscription messages first, so nothing the server sends after the reconnect is
//!   missed.
//! - [`sink`]: sends each message as a text frame and acknowledges it once written; while
//!   disconnected it reads no input, so the pipeline waits rather than drops.
//!
//! Both report `runnel_websocket_connected` and `runnel_websocket_reconnects_total`.

pub mod config;
pub(crate) mod connect;
pub mod metrics;
pub mod sink;
pub mod source;

#[cfg(test)]
mod tests;

pub use config::{ClientConfig, KeepaliveConfig, ReconnectConfig, WebSocketSinkConfig, WebSocketSourceConfig};
pub use connect::ConnectError;
