//! Errors of running blocks.

use crate::message::Origin;

/// Why a block stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A message failed and the block's policy is `on_error = "fail"`.
    #[error("{origin}: {error}")]
    MessageFailed {
        /// Where the failing message entered the pipeline.
        origin: Origin,
        /// What went wrong.
        error: String,
    },
    /// A downstream node stopped, so this one cannot deliver any more.
    #[error("a downstream node stopped")]
    DownstreamClosed,
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Any other failure of a connector or block.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl BlockError {
    /// Wraps any error.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Other(error.into())
    }
}

impl From<crate::channel::Closed> for BlockError {
    fn from(_: crate::channel::Closed) -> Self {
        Self::DownstreamClosed
    }
}

/// Why a block could not be built from its validated configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Opening a file, binding a port or connecting failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The configuration is inconsistent in a way only building could find.
    #[error("{0}")]
    Invalid(String),
    /// Any other failure.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}
