//! One matcher of a pattern field's list, and how it is read from the pattern.

use serde_json::Value;

use crate::kind::kind;

/// One way a field's value may match.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Matcher {
    /// Equal to a literal: a string, a number (compared by its text), a boolean or null.
    Equals(Value),
    /// A string starting with this.
    Prefix(String),
    /// A string ending with this.
    Suffix(String),
    /// A string equal to this, ignoring case (kept lower-cased).
    EqualsIgnoreCase(String),
    /// Present and equal to none of these literals.
    AnythingBut(Vec<Value>),
    /// A number within every bound.
    Numeric(Vec<(Comparison, f64)>),
    /// Present (`true`) or absent (`false`).
    Exists(bool),
}

/// A comparison of `numeric`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "=" => Self::Equal,
            "<" => Self::Less,
            "<=" => Self::LessOrEqual,
            ">" => Self::Greater,
            ">=" => Self::GreaterOrEqual,
            _ => return None,
        })
    }

    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Self::Equal => value == bound,
            Self::Less => value < bound,
            Self::LessOrEqual => value <= bound,
            Self::Greater => value > bound,
            Self::GreaterOrEqual => value >= bound,
        }
    }
}

impl Matcher {
    /// Reads one element of a field's list.
    pub(super) fn parse(item: &Value) -> Result<Self, String> {
        let Value::Object(operator) = item else {
            return match item {
                Value::Array(_) => Err("a matcher cannot be an array".to_owned()),
                literal => Ok(Self::Equals(literal.clone())),
            };
        };
        let mut entries = operator.iter();
        let (Some((name, argument)), None) = (entries.next(), entries.next()) else {
            return Err(format!("a matcher object has exactly one operator, found {}", operator.len()));
        };
        match name.as_str() {
            "prefix" => string_argument(name, argument).map(Self::Prefix),
            "suffix" => string_argument(name, argument).map(Self::Suffix),
            "equals-ignore-case" => string_argument(name, argument).map(|text| Self::EqualsIgnoreCase(text.to_lowercase())),
            "anything-but" => anything_but(argument),
            "numeric" => numeric(argument),
            "exists" => match argument {
                Value::Bool(present) => Ok(Self::Exists(*present)),
                other => Err(format!("`exists` takes true or false, not {}", kind(other))),
            },
            other => Err(format!("unknown operator `{other}` (known: prefix, suffix, equals-ignore-case, anything-but, numeric, exists)")),
        }
    }

    /// Whether the event's field (`None` when absent) matches.
    pub(super) fn matches(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Self::Exists(present), value) => *present == value.is_some(),
            (_, None) => false,
            (_, Some(Value::Array(items))) => items.iter().any(|item| self.matches_one(item)),
            (_, Some(value)) => self.matches_one(value),
        }
    }

    fn matches_one(&self, value: &Value) -> bool {
        match self {
            Self::Equals(literal) => literal_equals(literal, value),
            Self::Prefix(prefix) => value.as_str().is_some_and(|text| text.starts_with(prefix.as_str())),
            Self::Suffix(suffix) => value.as_str().is_some_and(|text| text.ends_with(suffix.as_str())),
            Self::EqualsIgnoreCase(lower) => value.as_str().is_some_and(|text| text.to_lowercase() == *lower),
            Self::AnythingBut(excluded) => !excluded.iter().any(|literal| literal_equals(literal, value)),
            Self::Numeric(bounds) => value.as_f64().is_some_and(|number| bounds.iter().all(|(op, bound)| op.holds(number, *bound))),
            Self::Exists(present) => *present,
        }
    }
}

/// Literal equality as EventBridge has it: same type, numbers by their text.
fn literal_equals(literal: &Value, value: &Value) -> bool {
    match (literal, value) {
        (Value::Number(a), Value::Number(b)) => a.to_string() == b.to_string(),
        (a, b) => a == b,
    }
}

fn string_argument(operator: &str, argument: &Value) -> Result<String, String> {
    match argument {
        Value::String(text) => Ok(text.clone()),
        other => Err(format!("`{operator}` takes a string, not {}", kind(other))),
    }
}

fn anything_but(argument: &Value) -> Result<Matcher, String> {
    let literals = match argument {
        Value::Array(items) if items.is_empty() => return Err("`anything-but` needs at least one value".to_owned()),
        Value::Array(items) => items.clone(),
        Value::String(_) | Value::Number(_) => vec![argument.clone()],
        other => return Err(format!("`anything-but` takes a string, a number or a list of them, not {}", kind(other))),
    };
    if let Some(bad) = literals.iter().find(|item| !matches!(item, Value::String(_) | Value::Number(_))) {
        return Err(format!("`anything-but` lists strings and numbers, not {}", kind(bad)));
    }
    Ok(Matcher::AnythingBut(literals))
}

fn numeric(argument: &Value) -> Result<Matcher, String> {
    let Value::Array(items) = argument else {
        return Err(format!("`numeric` takes a list such as [\">\", 10, \"<=\", 20], not {}", kind(argument)));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err("`numeric` takes one or two comparisons: [\"=\", 100] or [\">\", 10, \"<=\", 20]".to_owned());
    }
    let mut bounds = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        let op = pair[0].as_str().and_then(Comparison::parse).ok_or_else(|| format!("`numeric`: {} is not one of =, <, <=, >, >=", pair[0]))?;
        let bound = pair[1].as_f64().ok_or_else(|| format!("`numeric`: {} is not a number", pair[1]))?;
        bounds.push((op, bound));
    }
    Ok(Matcher::Numeric(bounds))
}
