//! The `http` sink against a scripted webhook receiver (`peer`): retries, final failures,
//! acknowledgements, batching, signing and its metrics.

mod delivery;
mod peer;
