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

/// An error with its causes, outermost first, each after a `: `, as logs want it: many errors
/// (an HTTP client's, say) say only the outermost in their message.
///
/// ```
/// let cause = std::io::Error::other("connection refused");
/// let error = std::io::Error::other(Wrapped(cause));
/// assert_eq!(runnel_engine::error_chain(&error), "cannot connect: connection refused");
/// # #[derive(Debug)] struct Wrapped(std::io::Error);
/// # impl std::fmt::Display for Wrapped { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("cannot connect") } }
/// # impl std::error::Error for Wrapped { fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) } }
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
