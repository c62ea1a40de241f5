//! Evaluation of an [`Expr`] on a borrowed value.
//!
//! Outputs borrow from the input or the program where they can (a path, a literal) and are
//! owned where computed. The order rules are jaq's (`jaq_core::filter`):
//!
//! - `l | r`, `if`, `select`, `and`/`or`, assignments: the first term decides; its error or lack
//!   of output is the result.
//! - `l op r`, `{k: v}`, and the indices of a path are a cartesian product: when any part has no
//!   output there is no output, even if an earlier part failed; otherwise the first error (in
//!   order) is the result.
//! - `[a, b]`: outputs in order; the first error is the result.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::compare::{self, Num};
use super::display::jaq_text;
use super::{Expr, Part, Stop, math, truthy, update};

/// At most one output, or why there is none.
pub(super) type Out<'a> = Result<Option<Cow<'a, Value>>, Stop>;

/// The `null` that missing fields and out-of-range positions read as.
static NULL: Value = Value::Null;

impl Expr {
    pub(super) fn eval<'a>(&'a self, input: &'a Value) -> Out<'a> {
        let value = match self {
            Self::Id => Cow::Borrowed(input),
            Self::Lit(value) => Cow::Borrowed(value),
            Self::Empty => return Ok(None),
            Self::Path(head, parts) => return path(head, parts, input),
            Self::Neg(f) => match f.eval(input)? {
                Some(v) => Cow::Owned(math::negate(&v)?),
                None => return Ok(None),
            },
            Self::Math(l, op, r) => match product(&[l, r], input)? {
                Some([l, r]) => math::run(*op, l, r)?,
                None => return Ok(None),
            },
            Self::Cmp(l, op, r) => match product(&[l, r], input)? {
                Some([l, r]) => Cow::Owned(Value::Bool(compare::run(*op, &l, &r))),
                None => return Ok(None),
            },
            Self::Logic(l, stop, r) => {
                let Some(l) = l.eval(input)? else { return Ok(None) };
                if truthy(&l) == *stop {
                    Cow::Owned(Value::Bool(*stop))
                } else {
                    match r.eval(input)? {
                        Some(r) => Cow::Owned(Value::Bool(truthy(&r))),
                        None => return Ok(None),
                    }
                }
            }
            Self::Not => Cow::Owned(Value::Bool(!truthy(input))),
            Self::Length => Cow::Owned(math::length(input)?),
            Self::Select(cond) => match cond.eval(input)? {
                Some(c) if truthy(&c) => Cow::Borrowed(input),
                _ => return Ok(None),
            },
            Self::If(cond, then, otherwise) => match cond.eval(input)? {
                Some(c) if truthy(&c) => return then.eval(input),
                Some(_) => return otherwise.eval(input),
                None => return Ok(None),
            },
            Self::Pipe(l, r) => match l.eval(input)? {
                Some(Cow::Borrowed(v)) => return r.eval(v),
                // `r`'s output may borrow from `v`, which ends here.
                Some(Cow::Owned(v)) => return Ok(r.eval(&v)?.map(|out| Cow::Owned(out.into_owned()))),
                None => return Ok(None),
            },
            Self::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.extend(item.eval(input)?.map(Cow::into_owned));
                }
                Cow::Owned(Value::Array(values))
            }
            Self::Object(entries) => match object(entries, input)? {
                Some(fields) => Cow::Owned(Value::Object(fields)),
                None => return Ok(None),
            },
            Self::Assign(parts, f) => return update::assign(parts, f, input),
            Self::Update(parts, f) => return update::update(parts, f, input),
            Self::UpdateMath(parts, op, f) => return update::update_math(parts, *op, f, input),
        };
        Ok(Some(value))
    }
}

/// The outputs of `exprs`, all run on `input`, under the cartesian-product rule (module docs).
pub(super) fn product<'a, const N: usize>(
    exprs: &[&'a Expr; N],
    input: &'a Value,
) -> Result<Option<[Cow<'a, Value>; N]>, Stop> {
    let mut values = [const { None }; N];
    let mut first_error = None;
    for (slot, expr) in values.iter_mut().zip(exprs) {
        match expr.eval(input) {
            Ok(Some(value)) => *slot = Some(value),
            Ok(None) => return Ok(None),
            Err(Stop::Error(message)) => {
                first_error.get_or_insert(message);
            }
            Err(Stop::Fallback) => return Err(Stop::Fallback),
        }
    }
    if let Some(message) = first_error {
        return Err(Stop::Error(message));
    }
    Ok(Some(values.map(|value| value.unwrap_or(Cow::Borrowed(&NULL)))))
}

/// Like [`product`] for a list of expressions.
pub(super) fn product_all<'a>(
    exprs: impl Iterator<Item = &'a Expr>,
    input: &'a Value,
) -> Result<Option<Vec<Cow<'a, Value>>>, Stop> {
    let mut values = Vec::new();
    let mut first_error = None;
    for expr in exprs {
        match expr.eval(input) {
            Ok(Some(value)) => values.push(value),
            Ok(None) => return Ok(None),
            Err(Stop::Error(message)) => {
                first_error.get_or_insert(message);
            }
            Err(Stop::Fallback) => return Err(Stop::Fallback),
        }
    }
    match first_error {
        Some(message) => Err(Stop::Error(message)),
        None => Ok(Some(values)),
    }
}

/// `{k: v, ...}`: jaq adds one-field objects, so a repeated key keeps its first place and its
/// last value. Keys that are not strings (jaq allows them) fall back.
fn object<'a>(entries: &'a [(Expr, Expr)], input: &'a Value) -> Result<Option<Map<String, Value>>, Stop> {
    let exprs = entries.iter().flat_map(|(k, v)| [k, v]);
    let Some(values) = product_all(exprs, input)? else { return Ok(None) };
    let mut fields = Map::new();
    let mut values = values.into_iter();
    while let (Some(key), Some(value)) = (values.next(), values.next()) {
        let Value::String(key) = key.into_owned() else { return Err(Stop::Fallback) };
        fields.insert(key, value.into_owned());
    }
    Ok(Some(fields))
}

/// `head` then `parts`: `head` first (its error wins), then the indices (cartesian rule), then
/// each step; a failing step marked `?` gives no output.
fn path<'a>(head: &'a Expr, parts: &'a [Part], input: &'a Value) -> Out<'a> {
    let Some(value) = head.eval(input)? else { return Ok(None) };
    let literal = |part: &'a Part| match &part.index {
        Expr::Lit(key) => Some(key),
        _ => None,
    };
    if parts.iter().all(|part| literal(part).is_some()) {
        return walk(value, parts.iter().map(|part| (part, literal(part).unwrap_or(&NULL))));
    }
    let Some(indices) = product_all(parts.iter().map(|part| &part.index), input)? else { return Ok(None) };
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

/// `value[index]` as jaq reads it (`Val::index`): `None` is `null`. Null gives null whatever the
/// index; objects give null for keys that are not strings; arrays take integer positions,
/// counting from the end when negative. Array and object indices (jaq's `indices` and slices)
/// fall back.
pub(super) fn index_of<'v>(value: &'v Value, index: &Value) -> Result<Option<&'v Value>, Stop> {
    match (value, index) {
        (Value::Null, _) => Ok(None),
        (Value::Object(fields), Value::String(key)) => Ok(fields.get(key)),
        (Value::Object(_), _) => Ok(None),
        (Value::Array(items), Value::Number(n)) => match Num::of(n) {
            Num::Int(i) => Ok(position(i, items.len()).and_then(|i| items.get(i))),
            Num::Big(_) => Ok(None),
            Num::Float(_) => Err(index_error(value, index)),
        },
        (Value::Array(_), Value::Array(_)) | (Value::Array(_) | Value::String(_), Value::Object(_)) => {
            Err(Stop::Fallback)
        }
        _ => Err(index_error(value, index)),
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
