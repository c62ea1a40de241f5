//! The `http` sink (webhook out) and the `http` block (a call per message, its answer merged in).
//!
//! - [`config`]: [`HttpSinkConfig`], with URL template, method, headers, encoding, batching, request
//!   limits and retries, signing.
//! - `template`: [`UrlTemplate`], a URL with `{field}` placeholders from each message.
//! - `batches`: the batches gathered per URL, sealed at a count, a size or a deadline.
//! - `client`: one request of the sink or the block, from its first attempt to its last (signing, timeouts, retries with
//!   backoff and jitter, `Retry-After`).
//! - [`sink`]: the running sink, with batching per URL, concurrency and rate limit, acknowledgements and failures.
//! - [`block`]: the `http` block, [`HttpBlockConfig`], on the same client.
//! - [`metrics`]: the `runnel_http_sink_*` and `runnel_http_block_*` families.

mod batches;
pub mod block;
pub(crate) mod client;
pub mod config;
pub mod metrics;
pub mod sink;
mod template;

#[cfg(test)]
mod tests;

pub use crate::template::RenderError;
pub use block::HttpBlockConfig;
pub use client::ClientError;
pub use config::{Algorithm, BatchConfig, Encoding, HttpSinkConfig, Method, RequestConfig, SigningConfig};
pub use template::UrlTemplate;
