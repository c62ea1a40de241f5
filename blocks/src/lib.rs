//! runnel's built-in transform blocks.
//!
//! # Layout
//!
//! - [`jq`]: [`JqProgram`], a jq expression compiled once (with [jaq]) when the configuration
//!   is read, and [`JqError`], with positions inside the expression for compile errors.
//! - [`filter`]: the `filter` block ([`FilterConfig`]), which keeps messages matching a jq condition.
//! - [`map`]: the `map` block ([`MapConfig`]), which replaces each message with a jq program's
//!   outputs: zero, one or many messages.
//! - [`lambda`]: the `lambda` block ([`LambdaConfig`]), Lambda's event-source-mapping semantics
//!   (batches per shard, retries, bisect, partial failures, tumbling windows, filter criteria)
//!   around a handler.
//! - [`event_pattern`]: [`EventPattern`](event_pattern::EventPattern), EventBridge's event
//!   patterns (the `lambda` block's filter criteria).
//! - [`registry`]: every block of this crate, for the engine's [`Registry`].
//!
//! Blocks only implement the engine's traits; the engine runs them.
//!
//! [jaq]: https://github.com/01mf02/jaq

// In tests a panic is the failure report, so unwrapping is the point.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod batch;
mod cap;
pub mod dedupe;
pub mod event_pattern;
pub mod filter;
pub mod jq;
mod kind;
pub mod lambda;
pub mod map;
pub mod route;
pub mod throttle;
pub mod time;
pub mod unbatch;
pub mod window;

#[cfg(test)]
mod test_support;

/// jemalloc, as in the `runnel` binary: the jq memory budget reads its counters.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub use batch::BatchConfig;
pub use dedupe::DedupeConfig;
pub use filter::FilterConfig;
pub use jq::{JqError, JqProgram};
pub use lambda::LambdaConfig;
pub use map::MapConfig;
pub use route::RouteConfig;
pub use throttle::ThrottleConfig;
pub use unbatch::UnbatchConfig;
pub use window::WindowConfig;

use runnel_engine::Registry;

/// The component types this crate provides, by `type` name.
pub fn registry() -> Registry {
    Registry::new()
        .with::<FilterConfig>()
        .with::<MapConfig>()
        .with::<RouteConfig>()
        .with::<BatchConfig>()
        .with::<UnbatchConfig>()
        .with::<WindowConfig>()
        .with::<DedupeConfig>()
        .with::<ThrottleConfig>()
        .with::<LambdaConfig>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_engine::Role;

    #[test]
    fn every_example_deserialises_and_validates() {
        assert_eq!(registry().example_problems(), Vec::<String>::new());
    }

    #[test]
    fn jq_errors_are_located_in_the_pipeline_file() {
        let text = "[blocks.chat]\ntype = \"filter\"\ninputs = []\ncondition = '.kind =='\n";
        let error = runnel_engine::Pipeline::from_toml(text, &registry()).unwrap_err();
        let diagnostic = error.diagnostics.iter().find(|d| d.message.contains("jq")).expect("a jq diagnostic");
        let expected = "jq syntax error at column 9 of `.kind ==`: expected term, unexpected end of input";
        assert!(diagnostic.message.starts_with(expected), "{diagnostic}");
        assert_eq!(diagnostic.location.as_ref().map(|l| l.line), Some(4));
    }

    #[test]
    fn every_block_is_a_transform() {
        assert!(registry().entries().all(|entry| entry.role == Role::Transform));
        let names: Vec<_> = registry().entries().map(|entry| entry.type_name).collect();
        assert_eq!(names, ["batch", "dedupe", "filter", "lambda", "map", "route", "throttle", "unbatch", "window"]);
    }
}
