//! The endpoint's error answers: an AWS error type, its message and the HTTP status, written as
//! `{"__type": ..., "message": ...}`, with AWS's (or kinesalite's, or moto's) texts.

use crate::kinesis::wire::ErrorBody;

/// An operation that failed, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub(crate) struct ApiError {
    /// `ResourceNotFoundException`, `ValidationException`, ...
    pub(crate) kind: &'static str,
    /// What went wrong.
    pub(crate) message: String,
    /// 400 for the client's errors, 500 for the server's.
    pub(crate) status: u16,
}

impl ApiError {
    fn client(kind: &'static str, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), status: 400 }
    }

    /// The stream, shard or resource does not exist.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::client("ResourceNotFoundException", message)
    }

    /// A valid request that cannot be done with these arguments.
    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::client("InvalidArgumentException", message)
    }

    /// A member breaks the API's constraints (length, pattern, range).
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// The body is not the operation's JSON.
    pub(crate) fn serialization(message: impl Into<String>) -> Self {
        Self::client("SerializationException", message)
    }

    /// The stream exists already, or is not in a state for this.
    pub(crate) fn in_use(message: impl Into<String>) -> Self {
        Self::client("ResourceInUseException", message)
    }

    /// A shard's write queue is full.
    pub(crate) fn throttled(message: impl Into<String>) -> Self {
        Self::client("ProvisionedThroughputExceededException", message)
    }

    /// Too many shards.
    pub(crate) fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::client("LimitExceededException", message)
    }

    /// The server failed (a disk error).
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self { kind: "InternalFailure", message: message.into(), status: 500 }
    }

    /// The body written to the client.
    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody::new(self.kind, self.message.clone())
    }
}

/// Collects constraint violations into one `ValidationException`, as AWS reports them:
/// `2 validation errors detected: Value ... at 'a' ...; Value ... at 'b' ...` (at most 10).
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl Violations {
    /// `at` (a member path such as `records.3.member.data`) breaks `constraint`; `value` is the
    /// value as AWS quotes it, if it quotes it.
    pub(crate) fn add(&mut self, value: Option<&str>, at: &str, constraint: &str) {
        if self.0.len() < 10 {
            let value = value.map_or_else(String::new, |v| format!(" '{v}'"));
            self.0.push(format!("Value{value} at '{at}' failed to satisfy constraint: {constraint}"));
        }
    }

    /// A member that must be there is not.
    pub(crate) fn null(&mut self, at: &str) {
        if self.0.len() < 10 {
            self.0.push(format!("Value null at '{at}' failed to satisfy constraint: Member must not be null"));
        }
    }

    /// The error, if anything was wrong.
    pub(crate) fn into_result(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(ApiError::validation(format!("{n} validation error{} detected: {}", if n > 1 { "s" } else { "" }, self.0.join("; ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_read_as_aws_writes_them() {
        let mut violations = Violations::default();
        violations.add(None, "records", "Member must have length less than or equal to 500");
        assert_eq!(
            violations.into_result().map_err(|e| e.message),
            Err("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"
                .to_owned())
        );
        let mut two = Violations::default();
        two.null("streamName");
        two.add(Some("0"), "shardCount", "Member must have value greater than or equal to 1");
        assert!(two.into_result().is_err_and(|e| e.message.starts_with("2 validation errors detected: Value null at 'streamName'")));
    }
}
