//! EventBridge event patterns, the subset Lambda's filter criteria accept: a JSON object whose
//! fields name what an event must contain, each either a nested pattern or a list of matchers.
//!
//! - Fields of one pattern are ANDed, the matchers in a field's list are ORed, and an event
//!   must contain every field the pattern names (except under `{"exists": false}`); fields the
//!   pattern does not name are ignored.
//! - Matchers: a literal (`"v"`, `100`, `true`, `null`; `""` for the empty string), `{"prefix":
//!   "us-"}`, `{"suffix": ".png"}`, `{"equals-ignore-case": "Alice"}`, `{"anything-but": ...}`
//!   (a literal or a list of them), `{"numeric": [">", 10, "<=", 20]}` and `{"exists": bool}`.
//! - Literals compare exactly: strings with strings, and numbers by their text (`300` does
//!   not equal `300.0`), as EventBridge does; `numeric` compares numbers by value.
//! - An event field holding an array matches when one of its elements does.
//!
//! A pattern is compiled once ([`EventPattern::parse`]), with an error that says where in the
//! pattern it is wrong, and matched without allocating ([`EventPattern::matches`]).

mod matcher;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use matcher::Matcher;

use crate::kind::kind;

/// A compiled event pattern.
///
/// ```
/// # use runnel_blocks::event_pattern::EventPattern;
/// # use serde_json::json;
/// let pattern = EventPattern::parse(r#"{"room": [{"prefix": "chat-"}], "n": [{"numeric": [">", 10]}]}"#)?;
/// assert!(pattern.matches(&json!({"room": "chat-1", "n": 12, "other": true})));
/// assert!(!pattern.matches(&json!({"room": "chat-1", "n": 3})));
/// assert!(!pattern.matches(&json!({"room": "chat-1"})));
/// # Ok::<(), runnel_blocks::event_pattern::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EventPattern {
    fields: Vec<(String, Node)>,
}

/// What a pattern's field asks of the event's field of that name.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// A nested pattern: the event's field must be an object matching it.
    Object(EventPattern),
    /// Any of these matchers.
    AnyOf(Vec<Matcher>),
}

/// Why a pattern was refused: the path of the field in the pattern (`data.room`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The text is not JSON.
    #[error("the pattern is not JSON: {0}")]
    NotJson(String),
    /// The pattern is not an object.
    #[error("a pattern must be a JSON object of fields, not {0}")]
    NotAnObject(String),
    /// A field's value is wrong.
    #[error("at `{path}`: {problem}")]
    Field {
        /// The field's path in the pattern, dot-separated.
        path: String,
        /// What is wrong there.
        problem: String,
    },
}

impl EventPattern {
    /// Compiles a pattern written as JSON text.
    ///
    /// # Errors
    /// [`PatternError`] when the text is not JSON or not a pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PatternError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Compiles a pattern given as a JSON value.
    ///
    /// # Errors
    /// [`PatternError`] when the value is not a pattern.
    pub fn from_value(value: &Value) -> Result<Self, PatternError> {
        match value {
            Value::Object(fields) => Self::object(fields, ""),
            other => Err(PatternError::NotAnObject(kind(other).to_owned())),
        }
    }

    fn object(fields: &Map<String, Value>, prefix: &str) -> Result<Self, PatternError> {
        let mut compiled = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            let node = match value {
                Value::Object(nested) => Node::Object(Self::object(nested, &path)?),
                Value::Array(items) if items.is_empty() => return Err(field_error(&path, "a field's list of matchers must not be empty")),
                Value::Array(items) => {
                    Node::AnyOf(items.iter().map(Matcher::parse).collect::<Result<_, _>>().map_err(|problem| field_error(&path, &problem))?)
                }
                other => {
                    let problem = format!("expected a list of matchers or a nested pattern, found {}", kind(other));
                    return Err(field_error(&path, &problem));
                }
            };
            compiled.push((name.clone(), node));
        }
        Ok(Self { fields: compiled })
    }

    /// Whether `event` matches: it must be an object holding what every field asks.
    pub fn matches(&self, event: &Value) -> bool {
        match event {
            Value::Object(fields) => self.matches_fields(|name| fields.get(name)),
            _ => false,
        }
    }

    /// Whether the event whose top-level fields `field` looks up matches: for an event that is
    /// not held as one JSON object (a Kinesis record with its `data` decoded beside it).
    pub fn matches_fields<'a>(&self, field: impl Fn(&str) -> Option<&'a Value>) -> bool {
        self.fields.iter().all(|(name, node)| node.matches(field(name)))
    }

    /// Whether the pattern names the top-level field `name`.
    pub fn names(&self, name: &str) -> bool {
        self.fields.iter().any(|(field, _)| field == name)
    }
}

impl Node {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Self::Object(nested) => value.is_some_and(|value| nested.matches(value)),
            Self::AnyOf(matchers) => matchers.iter().any(|matcher| matcher.matches(value)),
        }
    }
}

fn field_error(path: &str, problem: &str) -> PatternError {
    PatternError::Field { path: path.to_owned(), problem: problem.to_owned() }
}
