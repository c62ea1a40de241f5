//! The `websocket_server` source and sink: one listener whose clients publish into the pipeline
//! and receive what the pipeline delivers, organised in channels.
//!
//! - [`config`]: [`WebSocketServerConfig`] (the source: listener, limits, history, auth) and
//!   [`WebSocketServerSinkConfig`] (which server, which channel).
//! - [`auth`]: tokens or HS256 JWTs, checked before the upgrade (the crate's `auth`, shared
//!   with the `http_server` source).
//! - [`template`]: channel names filled from message fields or attributes.
//! - `protocol`: the JSON frames clients and the server exchange.
//! - `hub`: clients, subscriptions, history, shared by the source and its sinks through the
//!   pipeline's `Resources`.
//! - `client`: one client's bounded queue and slow-consumer policy.
//! - `connection`: one connection's reader and writer.
//! - `http`: the WebSocket endpoint and the static files on the same listener.
//! - [`source`] and [`sink`]: the two nodes.

mod client;
pub mod config;
mod connection;
mod http;
mod hub;
pub mod metrics;
mod protocol;
pub mod sink;
pub mod source;
pub mod template;

#[cfg(test)]
mod tests;

/// What a `websocket_server` source provides to the sinks that name it in `server`.
const SERVER_KIND: &str = "websocket_server";

pub use crate::auth;
pub use auth::{AuthConfig, sign_jwt};
pub use config::{HistoryConfig, SlowConsumer, WebSocketServerConfig, WebSocketServerSinkConfig};
pub use source::{EVENTS_PORT, take_address};
pub use template::Template;
