//! Conversions between `serde_json::Value` (what messages hold) and `jaq_json::Val` (what jaq
//! runs on).
//!
//! Converting by hand is about as fast as cloning the `Value`, and faster than going through
//! serde or JSON text. Output values share parts with the input inside jaq (reference counts),
//! so converting them back costs only for what is kept.

use jaq_json::{Map, Num, Val};
use serde_json::{Number, Value};

/// `value` as a jaq value. Strings are copied once, into jaq's byte buffers.
pub(super) fn to_val(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => number_to_val(n),
        Value::String(s) => string_to_val(s),
        Value::Array(items) => items.iter().map(to_val).collect(),
        Value::Object(fields) => {
            let map: Map = fields.iter().map(|(k, v)| (string_to_val(k), to_val(v))).collect();
            Val::obj(map)
        }
    }
}

fn string_to_val(s: &str) -> Val {
    Val::utf8_str(s.as_bytes().to_vec())
}

fn number_to_val(n: &Number) -> Val {
    if let Some(i) = n.as_i64() {
        Val::Num(Num::from_integral(i))
    } else if let Some(u) = n.as_u64() {
        // Above i64::MAX: jaq keeps it exact as a big integer.
        Val::Num(Num::from_integral(u))
    } else {
        Val::from(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// How deeply a program's output may nest arrays and objects. Deeper values are refused rather
/// than converted, written or freed by code that recurses as deep as they go: a message is not
/// allowed to overflow the stack and take the process down.
pub const MAX_DEPTH: usize = 256;

/// A value nested deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooDeep;

/// `val` as JSON, the way jq prints it: NaN becomes `null`, infinities the largest finite
/// numbers, byte strings are read as UTF-8 and non-string object keys (which jaq allows, as in
/// `{(1): 2}`) are written as their JSON text.
///
/// # Errors
/// [`TooDeep`] when arrays and objects nest deeper than [`MAX_DEPTH`].
pub(super) fn from_val(val: &Val) -> Result<Value, TooDeep> {
    from_val_at(val, 0)
}

fn from_val_at(val: &Val, depth: usize) -> Result<Value, TooDeep> {
    Ok(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n),
        Val::TStr(bytes) | Val::BStr(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        Val::Arr(_) | Val::Obj(_) if depth == MAX_DEPTH => return Err(TooDeep),
        Val::Arr(items) => Value::Array(items.iter().map(|v| from_val_at(v, depth + 1)).collect::<Result<_, _>>()?),
        Val::Obj(fields) => Value::Object(fields.iter().map(|(k, v)| Ok((key_to_string(k), from_val_at(v, depth + 1)?))).collect::<Result<_, _>>()?),
    })
}

fn key_to_string(key: &Val) -> String {
    match key {
        Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => other.to_string(),
    }
}

fn num_to_json(n: &Num) -> Value {
    match n {
        Num::Int(i) => Value::from(*i),
        Num::Float(f) => float_to_json(*f),
        // Big integers and decimals (number literals in the program) are kept as text by jaq;
        // serde_json reads them as exactly as it can (as f64 when they do not fit 64 bits).
        Num::BigInt(big) => text_to_json(&big.to_string()),
        Num::Dec(text) => text_to_json(text),
    }
}

fn text_to_json(text: &str) -> Value {
    match text.parse::<Number>() {
        Ok(number) => Value::Number(number),
        Err(_) => float_to_json(text.parse().unwrap_or(f64::NAN)),
    }
}

fn float_to_json(f: f64) -> Value {
    Number::from_f64(f.clamp(f64::MIN, f64::MAX)).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips() {
        let value = json!({
            "s": "héllo", "n": -3, "big": u64::MAX, "f": 1.5, "t": true, "z": null,
            "a": [1, "two", [3], {"four": 4}], "o": {"nested": {"deep": []}},
        });
        assert_eq!(from_val(&to_val(&value)), Ok(value));
    }

    #[test]
    fn numbers_jq_makes_come_out_as_jq_prints_them() {
        assert_eq!(float_to_json(f64::NAN), Value::Null);
        assert_eq!(float_to_json(f64::INFINITY), json!(f64::MAX));
        assert_eq!(float_to_json(f64::NEG_INFINITY), json!(f64::MIN));
        assert_eq!(text_to_json("1.25"), json!(1.25));
        assert_eq!(text_to_json("12345678901234567890123"), json!(1.2345678901234568e22));
        assert_eq!(text_to_json("1e999"), json!(f64::MAX));
    }

    #[test]
    fn non_string_keys_become_their_json_text() {
        let map: Map = [(Val::from(1_isize), Val::Bool(true))].into_iter().collect();
        assert_eq!(from_val(&Val::obj(map)), Ok(json!({"1": true})));
    }
}
