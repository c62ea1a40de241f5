//! A request body into JSON values, through the codec's parser: one JSON document, the
//! elements of a JSON array, or the lines of NDJSON. A body with one bad part is refused whole,
//! so a request enters the pipeline entirely or not at all. A binary body is one message with
//! its bytes in base64 (for uploads, until messages carry bytes); `multipart/form-data` is
//! read by `multipart`.

use std::sync::Arc;

use base64::Engine as _;

use runnel_engine::ExactNumbers;
use serde_json::Value;

use super::config::BodyFormat;
use crate::codec::parse_exact;

/// One message's value, the literals it does not hold exactly, and its size in bytes.
pub(crate) type Decoded = (Value, Option<Arc<ExactNumbers>>, usize);

/// Why a body was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// A content type the route does not read.
    #[error("content type `{found}` is not {expected}")]
    ContentType {
        /// The request's `Content-Type`.
        found: String,
        /// What the route reads.
        expected: &'static str,
    },
    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at byte {0}")]
    NotUtf8(usize),
    /// Not a JSON document.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A route that reads arrays got something else.
    #[error("expected a JSON array of messages")]
    NotArray,
    /// A `multipart/form-data` body that does not parse.
    #[error("invalid multipart body: {0}")]
    Multipart(String),
    /// An NDJSON line that is not JSON.
    #[error("invalid JSON on line {line}: {reason}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// How a body is to be read, from the route's format and the request's content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// One document, one message.
    Document,
    /// An array, one message per element.
    Array,
    /// An array, one message per element; any other document, one message.
    SplitArrays,
    /// NDJSON, one message per line.
    Lines,
    /// Any bytes, one message holding them in base64.
    Binary,
    /// `multipart/form-data`, one message per file part (see `multipart`).
    Multipart,
}

/// Decodes `body` as `read` says.
///
/// # Errors
/// [`BodyError`] saying what is wrong with the body.
pub(crate) fn decode(read: Read, content_type: Option<&str>, body: &[u8]) -> Result<Vec<Decoded>, BodyError> {
    if read == Read::Multipart {
        // `multipart::decode` reads these; without a content type there is no boundary.
        return Err(BodyError::Multipart("the content type names no boundary".to_owned()));
    }
    if read == Read::Binary {
        let base64 = base64::engine::general_purpose::STANDARD.encode(body);
        let value = serde_json::json!({"base64": base64, "content_type": content_type, "bytes": body.len()});
        return Ok(vec![(value, None, body.len())]);
    }
    let text = std::str::from_utf8(body).map_err(|e| BodyError::NotUtf8(e.valid_up_to() + 1))?;
    if read == Read::Lines {
        return lines(text);
    }
    let (value, exact) = parse_exact(text).map_err(BodyError::Json)?;
    match (read, value) {
        (Read::Array | Read::SplitArrays, Value::Array(items)) => Ok(items.into_iter().map(|item| sized(item, exact.clone())).collect()),
        (Read::Array, _) => Err(BodyError::NotArray),
        (_, value) => Ok(vec![(value, exact, text.len())]),
    }
}

/// An array element: its size is estimated from its text, which the parser does not keep.
fn sized(value: Value, exact: Option<Arc<ExactNumbers>>) -> Decoded {
    let size = serde_json::to_string(&value).map_or(0, |t| t.len());
    (value, exact, size)
}

fn lines(text: &str) -> Result<Vec<Decoded>, BodyError> {
    let mut out = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (value, exact) = parse_exact(line).map_err(|reason| BodyError::Line { line: index + 1, reason })?;
        out.push((value, exact, line.len()));
    }
    Ok(out)
}

/// How a route reading `format` reads a body of `content_type`.
///
/// # Errors
/// [`BodyError::ContentType`] when it does not read that type.
pub(crate) fn reading(format: BodyFormat, content_type: Option<&str>) -> Result<Read, BodyError> {
    let kind = content_type.map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let is_ndjson = kind.as_deref().is_some_and(|k| NDJSON_TYPES.contains(&k));
    let is_json = kind.as_deref().is_none_or(|k| k == "application/json" || k.ends_with("+json"));
    let is_multipart = kind.as_deref() == Some("multipart/form-data");
    let refuse = |expected| BodyError::ContentType { found: content_type.unwrap_or_default().to_owned(), expected };
    match format {
        BodyFormat::Auto | BodyFormat::Multipart if is_multipart => Ok(Read::Multipart),
        BodyFormat::Multipart => Err(refuse("`multipart/form-data`")),
        BodyFormat::Auto if is_ndjson => Ok(Read::Lines),
        BodyFormat::Auto if is_json => Ok(Read::SplitArrays),
        BodyFormat::Auto => Err(refuse("JSON (`application/json`), NDJSON (`application/x-ndjson`) or `multipart/form-data`")),
        BodyFormat::Json if is_json => Ok(Read::Document),
        BodyFormat::JsonArray if is_json => Ok(Read::Array),
        BodyFormat::Json | BodyFormat::JsonArray => Err(refuse("JSON (`application/json`)")),
        // NDJSON senders label it many ways; JSON's own type is refused, as its document may
        // span lines.
        BodyFormat::Ndjson if is_ndjson || kind.is_none() || kind.as_deref() == Some("text/plain") => Ok(Read::Lines),
        BodyFormat::Ndjson => Err(refuse("NDJSON (`application/x-ndjson`)")),
        BodyFormat::Binary => Ok(Read::Binary),
    }
}

/// The content types of NDJSON (and JSON Lines) in use.
const NDJSON_TYPES: [&str; 5] =
    ["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"];
