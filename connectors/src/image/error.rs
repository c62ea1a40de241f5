//! Why the `image` block failed a message.

/// Why an image or one of its variants could not be produced; the message goes to the errors
/// port with this text, and with `status` when the service answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Neither the URL field nor the bytes field holds an image.
    #[error("no image: {0}")]
    NoSource(String),
    /// The bytes field is not base64.
    #[error("field `{field}` is not base64: {reason}")]
    Base64 {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The service answered with an error status.
    #[error("{what}: {service} answered HTTP {status}: {body}")]
    Status {
        /// What was asked (`upload`, `variant `thumb``).
        what: String,
        /// The service (`thumbor`, `Cloudinary`).
        service: &'static str,
        /// The answer's status.
        status: u16,
        /// An excerpt of the answer's body.
        body: String,
    },
    /// The request got no answer (connection refused, timeout).
    #[error("{what}: {service} did not answer: {reason}")]
    Request {
        /// What was asked.
        what: String,
        /// The service.
        service: &'static str,
        /// Why, with its causes.
        reason: String,
    },
    /// The service answered 2xx with something that is not an image this block reads.
    #[error("{what}: {service} answered HTTP {status} with no image it can read (content type `{content_type}`, {bytes} bytes)")]
    NotImage {
        /// What was asked.
        what: String,
        /// The service.
        service: &'static str,
        /// The answer's status.
        status: u16,
        /// The answer's content type.
        content_type: String,
        /// The answer's size.
        bytes: usize,
    },
    /// The answer was larger than `max_bytes`.
    #[error("{what}: {service} answered more than `max_bytes` ({limit} bytes)")]
    TooLarge {
        /// What was asked.
        what: String,
        /// The service.
        service: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The service's answer lacks what it should hold (an upload without `Location` or
    /// `public_id`).
    #[error("{what}: {service}'s answer is not understood: {reason}")]
    Answer {
        /// What was asked.
        what: String,
        /// The service.
        service: &'static str,
        /// What is missing or wrong.
        reason: String,
    },
    /// The configuration cannot serve this message (bytes for a service without uploads).
    #[error("{0}")]
    Unsupported(String),
}

impl ImageError {
    /// The HTTP status the service answered, if this is about an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::NotImage { status, .. } => Some(*status),
            _ => None,
        }
    }
}
