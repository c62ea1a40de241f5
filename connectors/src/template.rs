//! Templates filled from each message: `chat/pub/{room}`, `https://api.example.com/users/{.user.id}`.
//! A placeholder names a field of the message's value (`{room}`; `{from.user}` or `{.from.user}`
//! for nested objects) and, where the caller allows, the message's metadata attribute of that name
//! when the value has no such field (`{client_id}`). A string is used as it is, a number or a
//! boolean as its JSON text; a missing field, `null`, an object or an array is an error.
//!
//! One parser and renderer serves the `http` sink's and block's URLs, which percent-encode each
//! value ([`Escape::Url`], so a value cannot add a path segment or a query parameter), and the
//! WebSocket server's channel names, which use values as they are ([`Escape::None`]).

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use runnel_engine::Metadata;
use serde::Deserialize;
use serde_json::Value;

/// Everything but RFC 3986's unreserved characters is encoded.
const URL_ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A parsed template: literal text and placeholders.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Vec<String>),
}

/// How a placeholder's value is written into the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// As it is.
    None,
    /// Percent-encoded: everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
    Url,
}

/// Why a template gave nothing for a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The field is missing or `null` (and no metadata attribute stood in for it).
    #[error("the field `{0}` is missing or null")]
    Missing(String),
    /// The field is an object or an array.
    #[error("the field `{0}` is an object or an array")]
    NotScalar(String),
}

/// Why [`Template::render_checked`] gave nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// A placeholder had no value, or an object or array.
    Render(RenderError),
    /// The check refused this value.
    Refused(String),
}

/// The text of the field at `path`: from the value, or (a top-level name) `meta`'s attribute.
fn field<'a>(path: &[String], value: &'a Value, meta: Option<&'a Metadata>) -> Result<Cow<'a, str>, RenderError> {
    let found = path.iter().try_fold(value, |v, key| v.get(key)).filter(|v| !v.is_null()).or_else(|| match path {
        [name] => meta.and_then(|m| m.attribute(name)),
        _ => None,
    });
    match found {
        Some(Value::String(s)) => Ok(Cow::Borrowed(s.as_str())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Cow::Owned(v.to_string())),
        Some(Value::Array(_) | Value::Object(_)) => Err(RenderError::NotScalar(path.join("."))),
        Some(Value::Null) | None => Err(RenderError::Missing(path.join("."))),
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.text)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("template `{text}`: `{{` without `}}`"));
            };
            let inner = &rest[open + 1..open + close];
            let name = inner.strip_prefix('.').unwrap_or(inner);
            if name.is_empty() || name.split('.').any(str::is_empty) {
                return Err(format!("template `{text}`: empty field name in `{{{inner}}}`"));
            }
            parts.push(Part::Field(name.split('.').map(str::to_owned).collect()));
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("template `{text}`: `}}` without `{{`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { text, parts })
    }
}

impl Template {
    /// Fills the template from `value`, with `escape` applied to each placeholder's value; a
    /// top-level name the value lacks is read from `meta`'s attributes, when given.
    ///
    /// # Errors
    /// [`RenderError`] naming the first placeholder that has no value, or an object or array.
    pub fn render(&self, value: &Value, meta: Option<&Metadata>, escape: Escape) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.text.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(path) => {
                    let text = field(path, value, meta)?;
                    match escape {
                        Escape::None => out.push_str(&text),
                        Escape::Url => out.extend(utf8_percent_encode(&text, URL_ENCODED)),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Fills the template as [`Template::render`] with [`Escape::None`], each placeholder's
    /// value first passing `check` (a file name's characters, say).
    ///
    /// # Errors
    /// [`Checked::Render`] as `render`'s errors; [`Checked::Refused`] with the first value
    /// `check` refused.
    pub fn render_checked(&self, value: &Value, meta: Option<&Metadata>, check: impl Fn(&str) -> bool) -> Result<String, Checked> {
        let mut out = String::with_capacity(self.text.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(path) => {
                    let text = field(path, value, meta).map_err(Checked::Render)?;
                    if !check(&text) {
                        return Err(Checked::Refused(text.into_owned()));
                    }
                    out.push_str(&text);
                }
            }
        }
        Ok(out)
    }

    /// The text with every placeholder replaced by `fill`, to check what the template can give
    /// (a URL's scheme and host) before any message.
    pub fn sample(&self, fill: &str) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(text) => text.as_str(),
                Part::Field(_) => fill,
            })
            .collect()
    }

    /// Whether the template has no placeholder: every message gives the same text.
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Whether the template is the empty text.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The names of the placeholders, dotted (`from.user`).
    pub fn fields(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(path) => Some(path.join(".")),
            Part::Literal(_) => None,
        })
    }

    /// The literal text before the first placeholder.
    pub fn prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(text)) => text,
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(text: &str) -> Template {
        Template::try_from(text.to_owned()).expect("a valid template")
    }

    #[test]
    fn placeholders_read_dotted_paths_then_attributes() {
        let mut meta = Metadata::default();
        meta.set_attribute("client_id", json!("c7"));
        let value = json!({"room": "a/b c", "n": 3, "ok": true, "from": {"user": "ann"}});
        assert_eq!(template("{from.user}-{.n}-{ok}").render(&value, None, Escape::None), Ok("ann-3-true".into()));
        assert_eq!(template("in/{client_id}").render(&value, Some(&meta), Escape::None), Ok("in/c7".into()));
        assert_eq!(template("in/{client_id}").render(&value, None, Escape::None), Err(RenderError::Missing("client_id".into())));
        assert_eq!(template("{from.client_id}").render(&value, Some(&meta), Escape::None), Err(RenderError::Missing("from.client_id".into())));
        assert_eq!(template("{from}").render(&value, None, Escape::None), Err(RenderError::NotScalar("from".into())));
        assert_eq!(template("{x}").render(&json!({"x": null}), None, Escape::None), Err(RenderError::Missing("x".into())));
    }

    #[test]
    fn url_escaping_encodes_all_but_unreserved_characters() {
        let t = template("http://h/rooms/{room}?user={.from.user}");
        let url = t.render(&json!({"room": "a/b c", "from": {"user": "é&x=1-_.~"}}), None, Escape::Url);
        assert_eq!(url, Ok("http://h/rooms/a%2Fb%20c?user=%C3%A9%26x%3D1-_.~".into()));
        assert_eq!(t.render(&json!({"room": "a/b", "from": {"user": "u"}}), None, Escape::None), Ok("http://h/rooms/a/b?user=u".into()));
    }

    #[test]
    fn shape_queries() {
        let t = template("chat/in/{client_id}/{n}");
        assert_eq!(t.prefix(), "chat/in/");
        assert_eq!(t.fields().collect::<Vec<_>>(), ["client_id", "n"]);
        assert_eq!(t.sample("x"), "chat/in/x/x");
        assert!(!t.is_fixed() && template("a/b").is_fixed() && template("").is_empty());
        assert_eq!(t.to_string(), "chat/in/{client_id}/{n}");
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["a/{", "a/{}", "a/{.}", "a}", "{a..b}", "{.a.}"] {
            let error = Template::try_from(bad.to_owned()).expect_err(bad);
            assert!(error.contains(bad), "{error}");
        }
    }
}
