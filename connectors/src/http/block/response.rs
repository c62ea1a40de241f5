//! The value an answer's body becomes, by `response_format` and the answer's `Content-Type`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderValue;
use serde_json::Value;

use super::config::ResponseFormat;

/// How `auto` reads a content type.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Json,
    Text,
    Binary,
}

/// What kind of body `content_type` announces: JSON (`application/json`, `…+json`), text
/// (`text/*`, XML, form data, JavaScript), or anything else (or nothing) as binary.
fn kind(content_type: Option<&HeaderValue>) -> Kind {
    let Some(essence) = content_type.and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()) else { return Kind::Binary };
    let essence = essence.trim().to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else { return Kind::Binary };
    if sub == "json" || sub.ends_with("+json") {
        Kind::Json
    } else if top == "text" || sub == "xml" || sub.ends_with("+xml") || sub == "x-www-form-urlencoded" || sub == "javascript" {
        Kind::Text
    } else {
        Kind::Binary
    }
}

/// The value of an answer's `body`.
///
/// # Errors
/// A description when the body is not what the format (or the content type, under `auto`)
/// says: not JSON, or not UTF-8 text.
pub(super) fn decode(format: ResponseFormat, content_type: Option<&HeaderValue>, body: &[u8]) -> Result<Value, String> {
    let kind = match format {
        ResponseFormat::Auto if body.is_empty() => return Ok(Value::Null),
        ResponseFormat::Auto => kind(content_type),
        ResponseFormat::Json if body.is_empty() => return Ok(Value::Null),
        ResponseFormat::Json => Kind::Json,
        ResponseFormat::Text => Kind::Text,
        ResponseFormat::Base64 => Kind::Binary,
    };
    match kind {
        Kind::Json => serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}")),
        Kind::Text => match std::str::from_utf8(body) {
            Ok(text) => Ok(Value::String(text.to_owned())),
            // Under `auto`, text in another charset is kept as its bytes.
            Err(_) if format == ResponseFormat::Auto => Ok(Value::String(STANDARD.encode(body))),
            Err(e) => Err(format!("the answer is not UTF-8 text: {e}")),
        },
        Kind::Binary => Ok(Value::String(STANDARD.encode(body))),
    }
}
