//! jq's order and equality on JSON values, as jaq defines them (`Ord`/`PartialEq` for
//! `jaq_json::Val` and `Num`): null < false < true < numbers < strings < arrays < objects;
//! integers and floats compare by value, `-0.0 == 0`; strings by bytes; arrays element-wise;
//! objects by their sorted keys, then by the values in key order.

use std::cmp::Ordering;

use jaq_core::ops::Cmp;
use serde_json::{Map, Number, Value};

/// A JSON number as jaq sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    /// Fits 64 bits signed (jaq's `Num::Int`).
    Int(i64),
    /// Above `i64::MAX` (jaq's `Num::BigInt`).
    Big(u64),
    /// Anything with a fraction or exponent (jaq's `Num::Float`).
    Float(f64),
}

impl Num {
    pub(super) fn of(n: &Number) -> Self {
        match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Self::Int(i),
            (None, Some(u)) => Self::Big(u),
            (None, None) => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    /// The value as a float, as jaq converts it (`as f64` rounds to nearest, as `num-bigint` does).
    pub(super) fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Big(u) => u as f64,
            Self::Float(f) => f,
        }
    }
}

/// Runs comparison `op`.
pub(super) fn run(op: Cmp, l: &Value, r: &Value) -> bool {
    match op {
        Cmp::Eq => equal(l, r),
        Cmp::Ne => !equal(l, r),
        Cmp::Lt => order(l, r).is_lt(),
        Cmp::Le => order(l, r).is_le(),
        Cmp::Gt => order(l, r).is_gt(),
        Cmp::Ge => order(l, r).is_ge(),
    }
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// jq's total order.
pub(super) fn order(l: &Value, r: &Value) -> Ordering {
    match (l, r) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => num_order(Num::of(x), Num::of(y)),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Array(x), Value::Array(y)) => seq_order(x.iter(), y.iter()),
        (Value::Object(x), Value::Object(y)) => object_order(x, y),
        _ => rank(l).cmp(&rank(r)),
    }
}

/// Lexicographic order of two sequences under jq's order (`Iterator::cmp_by` is unstable).
fn seq_order<'a>(mut l: impl Iterator<Item = &'a Value>, mut r: impl Iterator<Item = &'a Value>) -> Ordering {
    loop {
        match (l.next(), r.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match order(x, y) {
                Ordering::Equal => {}
                unequal => return unequal,
            },
        }
    }
}

fn object_order(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    match (x.len(), y.len()) {
        (0, 0) => Ordering::Equal,
        (0, _) => Ordering::Less,
        (_, 0) => Ordering::Greater,
        _ => {
            let (l, r) = (sorted(x), sorted(y));
            let keys = l.iter().map(|e| e.0.as_bytes()).cmp(r.iter().map(|e| e.0.as_bytes()));
            keys.then_with(|| seq_order(l.iter().map(|e| e.1), r.iter().map(|e| e.1)))
        }
    }
}

/// The fields of `m` sorted by key (objects in jaq keep insertion order).
fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

fn num_order(x: Num, y: Num) -> Ordering {
    match (x, y) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Big(x), Num::Big(y)) => x.cmp(&y),
        // A big integer is above every `i64`.
        (Num::Int(_), Num::Big(_)) => Ordering::Less,
        (Num::Big(_), Num::Int(_)) => Ordering::Greater,
        (x, y) => float_order(x.as_f64(), y.as_f64()),
    }
}

/// jaq's float order: zeros are equal whatever their sign, NaN is below everything.
fn float_order(l: f64, r: f64) -> Ordering {
    if l == 0.0 && r == 0.0 {
        Ordering::Equal
    } else if l.is_nan() {
        Ordering::Less
    } else if r.is_nan() {
        Ordering::Greater
    } else {
        l.total_cmp(&r)
    }
}

/// jq's `==`.
pub(super) fn equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => num_equal(Num::of(x), Num::of(y)),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w))),
        _ => false,
    }
}

fn num_equal(x: Num, y: Num) -> bool {
    match (x, y) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Big(x), Num::Big(y)) => x == y,
        (Num::Int(_), Num::Big(_)) | (Num::Big(_), Num::Int(_)) => false,
        (Num::Float(f), other) | (other, Num::Float(f)) => f.is_finite() && float_order(other.as_f64(), f).is_eq(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_order_as_in_jq() {
        let ascending = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1),
            json!(0.5),
            json!(u64::MAX),
            json!(""),
            json!("a"),
            json!([]),
            json!([0]),
            json!({}),
            json!({"a": 0}),
        ];
        for (i, l) in ascending.iter().enumerate() {
            for (j, r) in ascending.iter().enumerate() {
                assert_eq!(order(l, r), i.cmp(&j), "{l} vs {r}");
            }
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(&json!(-0.0), &json!(0)));
        assert!(equal(&json!({"a": [1]}), &json!({"a": [1.0]})));
        assert_eq!(order(&json!({"a": 2}), &json!({"a": 1, "b": 0})), Ordering::Less, "keys first");
    }
}
