//! The `http_server` source: webhooks in. An HTTP listener whose routes (`POST /events`,
//! `POST /hooks/{name}`) turn request bodies into messages, and whose answers follow the
//! messages' acknowledgements.
//!
//! - [`config`]: [`HttpServerConfig`] (listener, routes, limits, acknowledgement mode) and
//!   [`RouteConfig`].
//! - [`cors`]: which other origins' pages may post.
//! - [`signature`]: HMAC signatures of the body, as GitHub and similar webhooks send them, and
//!   Stripe's timestamped ones.
//! - `body`: a request body (one JSON document, a JSON array, NDJSON) into values.
//! - `multipart`: a `multipart/form-data` body into one message per file.
//! - `http`: the routes' handler: limits, auth, body, submission, the answer.
//! - `pending` and `reply`: requests that wait for an `http_response` sink's reply
//!   (`ack = "reply"`), process-wide by id, and how they are answered.
//! - [`source`]: the node, which binds the listener and hands submissions to the pipeline.
//! - [`metrics`]: requests by route and status.

mod body;
pub mod config;
pub mod cors;
mod http;
pub mod metrics;
mod multipart;
pub(crate) mod pending;
mod reply;
pub mod signature;
pub mod source;

#[cfg(test)]
mod tests;

pub use crate::auth::AuthConfig;
pub use config::{AckMode, BodyFormat, HttpServerConfig, REQUEST_ID, RouteConfig};
pub use cors::CorsConfig;
pub use signature::{SignatureAlgorithm, SignatureConfig, SignatureEncoding, SignatureScheme};
pub use source::take_address;
