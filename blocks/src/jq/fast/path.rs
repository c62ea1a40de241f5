//! Reading paths: `.a.b` by reference, `(f).a[.k]` in general, and jaq's indexing rules.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::compare::Num;
use super::display::jaq_text;
use super::eval::{Out, product};
use super::{Expr, Part, Step, Stop};

/// The `null` that missing fields and out-of-range positions read as.
static NULL: Value = Value::Null;

/// `.` followed by constant `steps`.
pub(super) fn get<'a>(steps: &[Step], input: &'a Value) -> Result<Option<&'a Value>, Stop> {
    let mut value = input;
    for step in steps {
        value = match index_of(value, &step.index) {
            Ok(child) => child.unwrap_or(&NULL),
            Err(Stop::Error(_)) if step.optional => return Ok(None),
            Err(stop) => return Err(stop),
        };
    }
    Ok(Some(value))
}

/// `head` then `parts`: `head` first (its error wins), then the indices (cartesian rule), then
/// each step; a failing step marked `?` gives no output.
pub(super) fn path<'a>(head: &'a Expr, parts: &'a [Part], input: &'a Value) -> Out<'a> {
    let Some(value) = head.eval(input)? else { return Ok(None) };
    let Some(indices) = product(parts.iter().map(|part| &part.index), input)? else { return Ok(None) };
    walk(value, parts.iter().zip(indices.iter().map(|index| &**index)))
}

fn walk<'a, 'i>(mut value: Cow<'a, Value>, steps: impl Iterator<Item = (&'a Part, &'i Value)>) -> Out<'a> {
    for (part, index) in steps {
        let child = match &value {
            Cow::Borrowed(v) => index_of(v, index).map(|child| Cow::Borrowed(child.unwrap_or(&NULL))),
            Cow::Owned(v) => index_of(v, index).map(|child| Cow::Owned(child.cloned().unwrap_or(Value::Null))),
        };
        value = match child {
            Ok(child) => child,
            Err(Stop::Error(_)) if part.optional => return Ok(None),
            Err(stop) => return Err(stop),
        };
    }
    Ok(Some(value))
}

/// `value[index]` as jaq reads it (`Val::index`), with positions rounded down as jq rounds them
/// (module `natives::index`): `None` is `null`. Null gives null whatever the index; objects
/// give null for keys that are not strings; arrays take integer positions, counting from the
/// end when negative. Array and object indices (jaq's `indices` and slices) fall back.
pub(super) fn index_of<'v>(value: &'v Value, index: &Value) -> Result<Option<&'v Value>, Stop> {
    let rounded = rounded(index);
    let index = rounded.as_ref().unwrap_or(index);
    match (value, index) {
        (Value::Null, _) => Ok(None),
        (Value::Object(fields), Value::String(key)) => Ok(field(fields, key)),
        (Value::Object(_), _) => Ok(None),
        (Value::Array(items), Value::Number(n)) => match Num::of(n) {
            Num::Int(i) => Ok(position(i, items.len()).and_then(|i| items.get(i))),
            Num::Big(_) => Ok(None),
            Num::Float(_) => Err(index_error(value, index)),
        },
        (Value::Array(_), Value::Array(_)) | (Value::Array(_) | Value::String(_), Value::Object(_)) => Err(Stop::Fallback),
        _ => Err(index_error(value, index)),
    }
}

/// The value of `key` in `fields`. A small object is searched in order: comparing a few keys
/// is faster than hashing one (objects keep their order in an `IndexMap` with SipHash).
pub(super) fn field<'v>(fields: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if fields.len() <= SCANNED { fields.iter().find_map(|(k, v)| (k == key).then_some(v)) } else { fields.get(key) }
}

/// The value of `key` in `fields`, for writing (searched as [`field`] searches).
pub(super) fn field_mut<'v>(fields: &'v mut Map<String, Value>, key: &str) -> Option<&'v mut Value> {
    if fields.len() <= SCANNED { fields.iter_mut().find_map(|(k, v)| (k == key).then_some(v)) } else { fields.get_mut(key) }
}

/// Up to how many keys [`field`] compares rather than hashes.
const SCANNED: usize = 8;

/// A number with a fraction as the integer jq reads it as (rounded down), when an `i64` holds it.
pub(super) fn rounded(index: &Value) -> Option<Value> {
    let Value::Number(n) = index else { return None };
    match Num::of(n) {
        Num::Float(f) if f.floor().abs() < 9.0e18 => Some(Value::from(f.floor() as i64)),
        _ => None,
    }
}

/// Position `i` in a sequence of `len`, negative from the end; `None` before the start.
/// (Past the end is left to the caller, as jaq does.)
pub(super) fn position(i: i64, len: usize) -> Option<usize> {
    if i >= 0 { usize::try_from(i).ok() } else { len.checked_sub(usize::try_from(i.unsigned_abs()).ok()?) }
}

fn index_error(value: &Value, index: &Value) -> Stop {
    Stop::Error(format!("cannot index {} with {}", jaq_text(value), jaq_text(index)))
}
