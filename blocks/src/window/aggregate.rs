//! Aggregations a window computes over its messages.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Number, Value, json};

use crate::jq::JqProgram;

/// What an aggregate computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateOp {
    /// Number of messages.
    Count,
    /// Sum of a numeric field.
    Sum,
    /// Smallest value of a numeric field.
    Min,
    /// Largest value of a numeric field.
    Max,
    /// Mean of a numeric field.
    Avg,
    /// Number of distinct values of a field.
    CountDistinct,
    /// Every value of a field, in arrival order.
    Collect,
    /// Number of messages per value of a field, as an object (a tag cloud's counts).
    CountBy,
}

/// One named aggregate of a window.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// What to compute.
    pub op: AggregateOp,
    /// A jq expression for the value to aggregate; the whole message when unset. Messages where
    /// it is `null` or missing are skipped by every op but `count`.
    #[serde(default)]
    pub field: Option<JqProgram>,
}

impl AggregateConfig {
    /// The field's value in `message` (the message itself without a field).
    pub(crate) fn extract(&self, message: &Value) -> Result<Value, String> {
        if self.op == AggregateOp::Count {
            return Ok(Value::Null);
        }
        let value = match &self.field {
            None => message.clone(),
            Some(field) => field.run_first(message).map_err(|e| e.to_string())?.unwrap_or(Value::Null),
        };
        let numeric = matches!(self.op, AggregateOp::Sum | AggregateOp::Min | AggregateOp::Max | AggregateOp::Avg);
        if numeric && !matches!(value, Value::Number(_) | Value::Null) {
            let field = self.field.as_ref().map_or(".".to_owned(), ToString::to_string);
            return Err(format!("`{field}` is {value}, not a number"));
        }
        Ok(value)
    }
}

/// The running state of one aggregate in one window.
///
/// 24 bytes: every open window holds one per aggregate, so the ops that hold a collection keep it
/// behind a box (allocated when the window opens) rather than making every count as large.
#[derive(Clone, Debug)]
#[expect(clippy::box_collection, reason = "a boxed collection keeps every other accumulator at 24 bytes")]
pub(crate) enum Accumulator {
    Count(u64),
    Sum(f64),
    Min(Option<f64>),
    Max(Option<f64>),
    Avg { sum: f64, count: u64 },
    Distinct(Box<HashSet<String>>),
    Collect(Box<Vec<Value>>),
    CountBy(Box<IndexMap<String, u64>>),
}

impl Accumulator {
    pub(crate) fn new(op: AggregateOp) -> Self {
        match op {
            AggregateOp::Count => Self::Count(0),
            AggregateOp::Sum => Self::Sum(0.0),
            AggregateOp::Min => Self::Min(None),
            AggregateOp::Max => Self::Max(None),
            AggregateOp::Avg => Self::Avg { sum: 0.0, count: 0 },
            AggregateOp::CountDistinct => Self::Distinct(Box::default()),
            AggregateOp::Collect => Self::Collect(Box::default()),
            AggregateOp::CountBy => Self::CountBy(Box::default()),
        }
    }

    /// Adds one message's extracted value.
    pub(crate) fn add(&mut self, value: &Value) {
        if let Self::Count(n) = self {
            *n += 1;
            return;
        }
        if value.is_null() {
            return;
        }
        let number = value.as_f64().unwrap_or(0.0);
        match self {
            Self::Count(_) => {}
            Self::Sum(sum) => *sum += number,
            Self::Min(min) => *min = Some(min.map_or(number, |m| m.min(number))),
            Self::Max(max) => *max = Some(max.map_or(number, |m| m.max(number))),
            Self::Avg { sum, count } => {
                *sum += number;
                *count += 1;
            }
            Self::Distinct(seen) => {
                seen.insert(text(value));
            }
            Self::Collect(all) => all.push(value.clone()),
            Self::CountBy(counts) => *counts.entry(text(value)).or_insert(0) += 1,
        }
    }

    /// Adds what `other`, of the same op, has accumulated (sessions merging).
    pub(crate) fn merge(&mut self, other: Self) {
        match (self, other) {
            (Self::Count(a), Self::Count(b)) => *a += b,
            (Self::Sum(a), Self::Sum(b)) => *a += b,
            (Self::Min(a), Self::Min(b)) => *a = [*a, b].into_iter().flatten().reduce(f64::min),
            (Self::Max(a), Self::Max(b)) => *a = [*a, b].into_iter().flatten().reduce(f64::max),
            (Self::Avg { sum, count }, Self::Avg { sum: s, count: c }) => {
                *sum += s;
                *count += c;
            }
            (Self::Distinct(a), Self::Distinct(b)) => a.extend(*b),
            (Self::Collect(a), Self::Collect(b)) => a.extend(*b),
            (Self::CountBy(a), Self::CountBy(b)) => {
                for (k, n) in *b {
                    *a.entry(k).or_insert(0) += n;
                }
            }
            _ => {}
        }
    }

    /// The aggregate's result.
    pub(crate) fn finish(self) -> Value {
        match self {
            Self::Count(n) => json!(n),
            Self::Sum(sum) => number(sum),
            Self::Min(m) | Self::Max(m) => m.map_or(Value::Null, number),
            Self::Avg { sum, count } => {
                if count == 0 {
                    Value::Null
                } else {
                    number(sum / count as f64)
                }
            }
            Self::Distinct(seen) => json!(seen.len()),
            Self::Collect(all) => Value::Array(*all),
            Self::CountBy(counts) => Value::Object(counts.into_iter().map(|(k, v)| (k, json!(v))).collect()),
        }
    }
}

/// Strings as themselves, anything else as its JSON text.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Integral results as integers, the rest as floats.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 { json!(x as i64) } else { Number::from_f64(x).map_or(Value::Null, Value::Number) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(op: AggregateOp, values: &[Value]) -> Value {
        let mut acc = Accumulator::new(op);
        for v in values {
            acc.add(v);
        }
        acc.finish()
    }

    #[test]
    fn an_accumulator_is_three_words() {
        assert_eq!(std::mem::size_of::<Accumulator>(), 24);
    }

    #[test]
    fn every_op_folds_as_documented() {
        let values = [json!(3), json!(1.5), Value::Null, json!(3)];
        assert_eq!(fold(AggregateOp::Count, &values), json!(4));
        assert_eq!(fold(AggregateOp::Sum, &values), json!(7.5));
        assert_eq!(fold(AggregateOp::Min, &values), json!(1.5));
        assert_eq!(fold(AggregateOp::Max, &values), json!(3));
        assert_eq!(fold(AggregateOp::Avg, &values), json!(2.5));
        assert_eq!(fold(AggregateOp::CountDistinct, &values), json!(2));
        assert_eq!(fold(AggregateOp::Collect, &values), json!([3, 1.5, 3]));
        assert_eq!(fold(AggregateOp::CountBy, &[json!("cat"), json!("dog"), json!("cat")]), json!({"cat": 2, "dog": 1}));
        assert_eq!(fold(AggregateOp::Avg, &[]), Value::Null);
    }

    #[test]
    fn numeric_ops_reject_non_numbers() {
        let config = AggregateConfig { op: AggregateOp::Sum, field: Some(JqProgram::new(".n").unwrap()) };
        assert_eq!(config.extract(&json!({"n": 2})), Ok(json!(2)));
        assert_eq!(config.extract(&json!({})), Ok(Value::Null));
        assert_eq!(config.extract(&json!({"n": "x"})), Err("`.n` is \"x\", not a number".to_owned()));
    }
}
