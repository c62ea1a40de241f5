//! Arithmetic, negation and `length` with jaq's semantics (`jaq_json`'s `Add`, `Sub`, ... for
//! `Val` and `Num`): integers stay integers under `+ - * %`, `/` always gives a float, `null` is
//! neutral for `+`, strings, arrays and objects add, arrays subtract, strings repeat and objects
//! merge deeply under `*`; `%` and string repetition as runnel's jq programs compute them
//! (`natives::arith`, `repeat`). Integer overflow (jaq goes on with big integers) and non-finite
//! results (which JSON cannot hold) fall back to jaq.

use std::borrow::Cow;

use jaq_core::ops::Math;
use serde_json::{Map, Number, Value};

use super::Stop;
use super::compare::{self, Num};
use super::display::jaq_text;
use crate::jq::natives::{Operand, remainder, zero_divisor};

/// Longer string repetitions (`"ab" * n`) are left to jaq.
const MAX_REPEAT: i64 = 4096;

/// `l op r`.
pub(super) fn run<'a>(op: Math, l: Cow<'a, Value>, r: Cow<'a, Value>) -> Result<Cow<'a, Value>, Stop> {
    let value = match (op, &*l, &*r) {
        (Math::Add, Value::Null, _) => return Ok(r),
        (Math::Add, _, Value::Null) => return Ok(l),
        (_, Value::Number(x), Value::Number(y)) => number(op, Num::of(x), Num::of(y))?,
        (Math::Add, Value::String(_), Value::String(y)) => {
            let mut joined = into_string(l);
            joined.push_str(y);
            Value::String(joined)
        }
        (Math::Add, Value::Array(_), Value::Array(_)) => {
            let mut items = into_array(l);
            items.extend(into_array(r));
            Value::Array(items)
        }
        (Math::Add, Value::Object(_), Value::Object(_)) => {
            let mut fields = into_object(l);
            fields.extend(into_object(r));
            Value::Object(fields)
        }
        (Math::Sub, Value::Array(_), Value::Array(y)) => {
            let mut items = into_array(l);
            items.retain(|x| !y.iter().any(|y| compare::order(x, y).is_eq()));
            Value::Array(items)
        }
        // jq's repetition (module `repeat`): negative counts give `null`, fractions round down.
        (Math::Mul, Value::String(s), Value::Number(n)) | (Math::Mul, Value::Number(n), Value::String(s)) => match Num::of(n) {
            Num::Int(times) if times > MAX_REPEAT => return Err(Stop::Fallback),
            Num::Int(times) if times >= 0 => Value::String(s.repeat(times as usize)),
            Num::Int(_) => Value::Null,
            Num::Big(_) => return Err(Stop::Fallback),
            Num::Float(f) if f < 0.0 => Value::Null,
            Num::Float(f) if f >= MAX_REPEAT as f64 => return Err(Stop::Fallback),
            Num::Float(f) => Value::String(s.repeat(f as usize)),
        },
        (Math::Mul, Value::Object(_), Value::Object(_)) => {
            let mut fields = into_object(l);
            merge(&mut fields, into_object(r));
            Value::Object(fields)
        }
        // jaq splits strings with `/`; not reproduced here.
        (Math::Div, Value::String(_), Value::String(_)) => return Err(Stop::Fallback),
        _ => return Err(error(op, &l, &r)),
    };
    Ok(Cow::Owned(value))
}

fn error(op: Math, l: &Value, r: &Value) -> Stop {
    Stop::Error(format!("cannot calculate {} {} {}", jaq_text(l), op.as_str(), jaq_text(r)))
}

fn number(op: Math, x: Num, y: Num) -> Result<Value, Stop> {
    if op == Math::Rem {
        return remainder_of(x, y);
    }
    let (Num::Int(i), Num::Int(j)) = (x, y) else {
        if matches!(x, Num::Big(_)) || matches!(y, Num::Big(_)) {
            return Err(Stop::Fallback);
        }
        return float(op.run(x.as_f64(), y.as_f64()));
    };
    let int = match op {
        Math::Add => i.checked_add(j),
        Math::Sub => i.checked_sub(j),
        Math::Mul => i.checked_mul(j),
        Math::Div => return float(i as f64 / j as f64),
        Math::Rem => return remainder_of(x, y),
    };
    int.map(Value::from).ok_or(Stop::Fallback)
}

/// `x % y` as jq computes it (`natives::remainder`); big integers fall back.
fn remainder_of(x: Num, y: Num) -> Result<Value, Stop> {
    let operand = |n: Num| match n {
        Num::Int(i) => Ok(Operand::Int(i)),
        Num::Float(f) => Ok(Operand::Float(f)),
        Num::Big(_) => Err(Stop::Fallback),
    };
    match remainder(operand(x)?, operand(y)?) {
        Ok(Some(i)) => Ok(Value::from(i)),
        Ok(None) => Err(Stop::Fallback),
        Err(()) => Err(Stop::Error(zero_divisor(&jaq_number(x), &jaq_number(y), true))),
    }
}

/// A number as jaq writes it.
fn jaq_number(n: Num) -> String {
    match n {
        Num::Int(i) => i.to_string(),
        Num::Big(u) => u.to_string(),
        Num::Float(f) => jaq_text(&Number::from_f64(f).map_or(Value::Null, Value::Number)),
    }
}

/// A float result; jaq keeps infinities and NaN, which JSON cannot hold, so those fall back.
fn float(f: f64) -> Result<Value, Stop> {
    Number::from_f64(f).filter(|_| f.is_finite()).map(Value::Number).ok_or(Stop::Fallback)
}

/// `-value`.
pub(super) fn negate(value: &Value) -> Result<Value, Stop> {
    match value {
        Value::Number(n) => match Num::of(n) {
            Num::Int(i) => i.checked_neg().map(Value::from).ok_or(Stop::Fallback),
            Num::Big(_) => Err(Stop::Fallback),
            Num::Float(f) => float(-f),
        },
        other => Err(Stop::Error(format!("cannot use {} as number", jaq_text(other)))),
    }
}

/// `length`: 0 for null, the absolute value of a number, the number of characters, items or
/// fields; an error for booleans.
pub(super) fn length(value: &Value) -> Result<Value, Stop> {
    Ok(match value {
        Value::Null => Value::from(0),
        Value::Bool(_) => return Err(Stop::Error(format!("{} has no length", jaq_text(value)))),
        Value::Number(n) => match Num::of(n) {
            // jaq computes `i.abs()`, which overflows (a panic in debug builds) for `i64::MIN`;
            // the right answer is `2^63`.
            Num::Int(i) => Value::from(i.unsigned_abs()),
            Num::Big(u) => Value::from(u),
            Num::Float(f) => float(f.abs())?,
        },
        Value::String(s) => Value::from(s.chars().count()),
        Value::Array(items) => Value::from(items.len()),
        Value::Object(fields) => Value::from(fields.len()),
    })
}

fn into_string(value: Cow<'_, Value>) -> String {
    match value.into_owned() {
        Value::String(s) => s,
        _ => String::new(),
    }
}

fn into_array(value: Cow<'_, Value>) -> Vec<Value> {
    match value.into_owned() {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

fn into_object(value: Cow<'_, Value>) -> Map<String, Value> {
    match value.into_owned() {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// Deep merge for `*`: objects in both merge, anything else from `r` replaces.
fn merge(l: &mut Map<String, Value>, r: Map<String, Value>) {
    for (key, value) in r {
        match (l.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(other)) => merge(inner, other),
            (Some(slot), value) => *slot = value,
            (None, value) => {
                l.insert(key, value);
            }
        }
    }
}
