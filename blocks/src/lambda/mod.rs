//! The `lambda` block: Lambda's event-source-mapping semantics for Kinesis records around a
//! handler ([`Handler`]: a jq program today, Rust in tests and embedders).
//!
//! Records (one message each, shaped as a record of Lambda's Kinesis event) are grouped per
//! shard and lane (`lane = FNV-1a(partitionKey) mod parallelization_factor`); each lane invokes
//! one batch at a time, so order holds per partition key. A batch is invoked once `batch_size`
//! records wait, the payload nears 6 MB, or the batching window has passed since the oldest
//! waiting record arrived. What follows an invocation is §1.4–1.6 of Lambda's semantics:
//! success sends the records on `out`; a failure retries the same batch (or bisects it); a
//! partial batch response sends the records before the lowest failed one and retries the rest;
//! a batch past its retries or its age goes to `on_failure` as Lambda's on-failure record, with
//! the records under `payload`; and the lane goes on with the next records.
//!
//! Every record message ends exactly once: sent on `out` (processed), carried by an on-failure
//! record (discarded), acknowledged as dropped (filtered out), or failed to `errors` (not a
//! Kinesis record). At shutdown the invocations in flight finish; the records not processed are
//! dropped unresolved, so their source sees them abandoned and reads them again.
//!
//! With `event_source = "kafka"` the block reads the `kafka` source's messages instead and
//! invokes with Lambda's Kafka event, per topic-partition (module `kafka`).
//!
//! Modules: `config` (fields and validation), `handler`, `record` (what is read of a message),
//! `filter` (filter criteria), `lane` (batching, retries, bisect, windows: bookkeeping),
//! `response` (what an answer means), `failure` (the on-failure record), `run` (the task).

mod config;
mod failure;
mod filter;
mod handler;
mod kafka;
mod lane;
mod record;
mod response;
mod run;
#[cfg(test)]
mod tests;

pub use config::LambdaConfig;
pub use filter::FilterPattern;
pub use handler::{Handler, HandlerConfig, HandlerError, JqHandler, RustHandler};
pub use record::EventSource;
pub(crate) use run::Lambda;

/// The port of on-failure records (discarded batches).
pub const ON_FAILURE: &str = "on_failure";
/// The port of tumbling windows' results, after each window's final invocation.
pub const WINDOWS: &str = "windows";
