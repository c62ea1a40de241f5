//! Configuration of the `http_response` sink.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;

/// Answers the requests of `http_server` routes with `ack = "reply"`: each message it receives
/// is the reply to the request it came from (found by its `request_id` attribute), its status,
/// headers and body taken from the message's fields.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpResponseConfig {
    /// The status of replies whose message gives none, 200 by default.
    #[serde(default = "default_status")]
    pub status: u16,
    /// A field of the message holding the reply's status (a number from 200 to 599); it is
    /// taken out of the body.
    pub status_field: Option<String>,
    /// Headers every reply carries, by name (`{ "Cache-Control" = "no-store" }`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A field of the message holding more headers, an object of names to strings (or
    /// numbers); it is taken out of the body. They replace `headers` of the same name.
    pub headers_field: Option<String>,
    /// A field of the message holding the JSON body; a message without it is answered with
    /// no body. Without `body_field`, the body is the message, less `status_field` and
    /// `headers_field`.
    pub body_field: Option<String>,
    /// A field of the message holding the body as base64 bytes, such as the `base64` of an
    /// `http_server` binary upload: a message that has it is answered with those bytes, of the
    /// type in `content_type_field` (or a `Content-Type` header, or `application/octet-stream`).
    pub base64_field: Option<String>,
    /// With `base64_field`: the field holding the bytes' content type.
    #[serde(default = "default_content_type_field")]
    pub content_type_field: String,
}

fn default_status() -> u16 {
    200
}

fn default_content_type_field() -> String {
    "content_type".to_owned()
}

/// Whether `code` is a status a reply may have: a final answer, 200 to 599.
pub(crate) fn valid_status(code: u64) -> Option<StatusCode> {
    u16::try_from(code).ok().filter(|code| (200..=599).contains(code)).and_then(|code| StatusCode::from_u16(code).ok())
}

impl HttpResponseConfig {
    /// Every problem `validate` reports.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if valid_status(u64::from(self.status)).is_none() {
            problems.push(format!("`status`: {} is not a status from 200 to 599", self.status));
        }
        for (name, value) in &self.headers {
            if HeaderName::try_from(name.as_str()).is_err() {
                problems.push(format!("`headers`: `{name}` is not a header name"));
            } else if HeaderValue::try_from(value.as_str()).is_err() {
                problems.push(format!("`headers`: the value of `{name}` is not a header value"));
            }
        }
        let fields = [("status_field", &self.status_field), ("headers_field", &self.headers_field), ("body_field", &self.body_field)];
        for (name, field) in fields {
            if field.as_deref().is_some_and(str::is_empty) {
                problems.push(format!("`{name}` must not be empty"));
            }
        }
        if self.body_field.is_some() && self.body_field == self.base64_field {
            problems.push("`base64_field` and `body_field` must be different fields".to_owned());
        }
        problems
    }
}
