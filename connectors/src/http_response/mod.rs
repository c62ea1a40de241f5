//! The `http_response` sink: the reply half of request/response. An `http_server` route with
//! `ack = "reply"` tags its request's messages with a `request_id` attribute and waits; the
//! messages (or what blocks made of them) that reach this sink are the replies, which become the
//! HTTP answers.
//!
//! - [`config`]: [`HttpResponseConfig`], where a reply's status, headers and body come from.
//! - `reply`: a message into its answer.
//! - [`sink`]: the node, which finds each message's waiting request and answers it.
//! - [`metrics`]: replies by outcome.

pub mod config;
pub mod metrics;
mod reply;
pub mod sink;

#[cfg(test)]
mod tests;

pub use config::HttpResponseConfig;
