//! Channel templates: `chat/pub/{room}` names a channel from a message. A placeholder reads a
//! field of the message's value (`{room}`, `{from.user}` for nested objects) and, if the value has
//! no such field, the message's metadata attribute of that name (`{client_id}`, `{channel}`).

use std::fmt;

use runnel_engine::Metadata;
use serde::Deserialize;
use serde_json::Value;

/// The longest channel name accepted, in bytes.
pub const MAX_CHANNEL_BYTES: usize = 256;

/// A parsed channel template.
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
            let name = &rest[open + 1..open + close];
            if name.is_empty() || name.split('.').any(str::is_empty) {
                return Err(format!("template `{text}`: empty field name in `{{{name}}}`"));
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
        if parts.is_empty() {
            return Err("a channel template cannot be empty".to_owned());
        }
        Ok(Self { text, parts })
    }
}

impl Template {
    /// Fills the template from `value`, then `meta`'s attributes for top-level names.
    ///
    /// # Errors
    /// A message naming the placeholder that neither has, or that holds an object or array.
    pub fn render(&self, value: &Value, meta: Option<&Metadata>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(path) => {
                    let found = lookup(value, path).or_else(|| match path.as_slice() {
                        [name] => meta.and_then(|m| m.attribute(name)),
                        _ => None,
                    });
                    match found {
                        Some(Value::String(s)) => out.push_str(s),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                        Some(_) => return Err(format!("channel `{self}`: `{}` is not a string or number", path.join("."))),
                        None => return Err(format!("channel `{self}`: the message has no `{}`", path.join("."))),
                    }
                }
            }
        }
        if out.is_empty() || out.len() > MAX_CHANNEL_BYTES {
            return Err(format!("channel `{self}` gave `{out}`, which is empty or longer than {MAX_CHANNEL_BYTES} bytes"));
        }
        Ok(out)
    }

    /// The names of the placeholders.
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

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key)).filter(|v| !v.is_null())
}
