//! The `http` sink and block against a scripted HTTP server (`peer`): retries, final failures,
//! acknowledgements, batching, signing and its metrics.

mod block;
mod delivery;
pub(crate) mod peer;
