//! URL templates: `https://hooks.example.com/rooms/{room}?user={.from.user}` names each
//! message's URL. A placeholder reads a field of the message's value (`{room}`, or `{.a.b}` /
//! `{a.b}` for nested objects); a string is used as it is, a number or boolean as JSON text, and
//! either is percent-encoded, so a value cannot add a path segment or a query parameter.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::Value;

/// Everything but RFC 3986's unreserved characters is encoded.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A parsed URL template.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UrlTemplate {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Vec<String>),
}

/// Why a template gave no URL for a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The field is missing or `null`.
    #[error("the URL's field `{0}` is missing or null")]
    Missing(String),
    /// The field is an object or an array.
    #[error("the URL's field `{0}` is an object or an array")]
    NotScalar(String),
}

impl fmt::Debug for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlTemplate({:?})", self.text)
    }
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for UrlTemplate {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("URL template `{text}`: `{{` without `}}`"));
            };
            let inner = &rest[open + 1..open + close];
            let name = inner.strip_prefix('.').unwrap_or(inner);
            if name.is_empty() || name.split('.').any(str::is_empty) {
                return Err(format!("URL template `{text}`: empty field name in `{{{inner}}}`"));
            }
            parts.push(Part::Field(name.split('.').map(str::to_owned).collect()));
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("URL template `{text}`: `}}` without `{{`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { text, parts })
    }
}

impl UrlTemplate {
    /// Whether the template has no placeholder: every message goes to the same URL.
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Problems with the template: the URL with every placeholder filled in must be an
    /// `http://` or `https://` URL.
    pub fn problems(&self) -> Vec<String> {
        let sample: String = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Literal(text) => text.as_str(),
                Part::Field(_) => "x",
            })
            .collect();
        match reqwest::Url::parse(&sample) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Vec::new(),
            Ok(url) => vec![format!("`url`: `{}` is not http or https", url.scheme())],
            Err(error) => vec![format!("`url`: `{}` is not a URL: {error}", self.text)],
        }
    }

    /// The URL of a message whose value is `value`.
    ///
    /// # Errors
    /// [`RenderError`] when a placeholder's field is missing, `null`, an object or an array.
    pub fn render(&self, value: &Value) -> Result<String, RenderError> {
        let mut url = String::with_capacity(self.text.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => url.push_str(text),
                Part::Field(path) => {
                    let field = path.iter().try_fold(value, |v, key| v.get(key)).unwrap_or(&Value::Null);
                    let text = match field {
                        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                        Value::Number(_) | Value::Bool(_) => std::borrow::Cow::Owned(field.to_string()),
                        Value::Null => return Err(RenderError::Missing(path.join("."))),
                        Value::Array(_) | Value::Object(_) => return Err(RenderError::NotScalar(path.join("."))),
                    };
                    url.extend(utf8_percent_encode(&text, ENCODED));
                }
            }
        }
        Ok(url)
    }
}
