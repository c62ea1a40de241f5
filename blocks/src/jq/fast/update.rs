//! `path = f`, `path |= f` and `path op= f` on a copy of the input, following jaq's
//! `map_index`: objects gain or replace the field (`|= empty` removes it); arrays replace an
//! existing position (negative from the end) and fail past the end; anything else, `null`
//! included, cannot be updated, and a part marked `?` leaves such a value as it is.

use std::borrow::Cow;

use jaq_core::ops::Math;
use serde_json::Value;

use super::compare::Num;
use super::display::jaq_text;
use super::eval::{Out, position, product_all};
use super::{Expr, Part, Stop, math};

/// `parts = f`: `f` runs on the input first; its value goes at the path.
pub(super) fn assign<'a>(parts: &'a [Part], f: &'a Expr, input: &'a Value) -> Out<'a> {
    let Some(new) = f.eval(input)? else { return Ok(None) };
    set(parts, input, |_| Ok(Some(new.into_owned())))
}

/// `parts |= f`: `f` runs on the value at the path; no output removes it.
pub(super) fn update<'a>(parts: &'a [Part], f: &'a Expr, input: &'a Value) -> Out<'a> {
    set(parts, input, |old| Ok(f.eval(&old)?.map(Cow::into_owned)))
}

/// `parts op= f`: `f` runs on the input first, then `old op value` goes at the path.
pub(super) fn update_math<'a>(parts: &'a [Part], op: Math, f: &'a Expr, input: &'a Value) -> Out<'a> {
    let Some(operand) = f.eval(input)? else { return Ok(None) };
    set(parts, input, |old| Ok(Some(math::run(op, Cow::Owned(old), operand)?.into_owned())))
}

/// Runs `leaf` on the value at `parts` in a copy of `input`. Indices are computed on `input`;
/// when one has no output, the input is returned unchanged (jaq updates each path found, and
/// there is none).
fn set<'a, F>(parts: &'a [Part], input: &'a Value, leaf: F) -> Out<'a>
where
    F: FnOnce(Value) -> Result<Option<Value>, Stop>,
{
    let Some((first, rest)) = parts.split_first() else {
        return Ok(leaf(input.clone())?.map(Cow::Owned));
    };
    let mut output = input.clone();
    if let (Expr::Lit(index), true) = (&first.index, rest.iter().all(|part| matches!(part.index, Expr::Lit(_)))) {
        let rest =
            rest.iter().map(|part| (part, if let Expr::Lit(index) = &part.index { index } else { &Value::Null }));
        update_at(&mut output, first, index, rest, leaf)?;
    } else {
        let Some(indices) = product_all(parts.iter().map(|part| &part.index), input)? else {
            return Ok(Some(Cow::Borrowed(input)));
        };
        let mut steps = parts.iter().zip(indices.iter().map(|index| &**index));
        if let Some((first, index)) = steps.next() {
            update_at(&mut output, first, index, steps, leaf)?;
        }
    }
    Ok(Some(Cow::Owned(output)))
}

/// Updates `value[index]` with the rest of the path, or with `leaf` at its end.
fn update_at<'p, 'i, I, F>(
    value: &mut Value,
    part: &'p Part,
    index: &'i Value,
    mut rest: I,
    leaf: F,
) -> Result<(), Stop>
where
    I: Iterator<Item = (&'p Part, &'i Value)>,
    F: FnOnce(Value) -> Result<Option<Value>, Stop>,
{
    let next = rest.next();
    let apply = |mut child: Value| match next {
        None => leaf(child),
        Some((part, index)) => update_at(&mut child, part, index, rest, leaf).map(|()| Some(child)),
    };
    match (value, index) {
        // jaq updates slices here.
        (Value::String(_) | Value::Array(_), Value::Object(_)) => Err(Stop::Fallback),
        (Value::Object(fields), Value::String(key)) => {
            match fields.get_mut(key) {
                Some(slot) => match apply(std::mem::take(slot))? {
                    Some(new) => *slot = new,
                    None => {
                        fields.remove(key);
                    }
                },
                None => {
                    if let Some(new) = apply(Value::Null)? {
                        fields.insert(key.clone(), new);
                    }
                }
            }
            Ok(())
        }
        // jaq would add a key that is not a string.
        (Value::Object(_), _) => Err(Stop::Fallback),
        (Value::Array(items), _) => {
            let at = match array_position(index, items.len()) {
                Ok(at) => at,
                Err(_) if part.optional => return Ok(()),
                Err(error) => return Err(error),
            };
            match apply(std::mem::take(&mut items[at]))? {
                Some(new) => items[at] = new,
                None => {
                    items.remove(at);
                }
            }
            Ok(())
        }
        _ if part.optional => Ok(()),
        (value, _) => Err(Stop::Error(format!("cannot use {} as iterable (array or object)", jaq_text(value)))),
    }
}

/// Where `index` points in an array of `len` items, or jaq's error.
fn array_position(index: &Value, len: usize) -> Result<usize, Stop> {
    let i = match index {
        Value::Number(n) => match Num::of(n) {
            Num::Int(i) => position(i, len),
            Num::Big(_) => None,
            Num::Float(_) => return Err(Stop::Error(format!("cannot use {} as integer", jaq_text(index)))),
        },
        _ => return Err(Stop::Error(format!("cannot use {} as integer", jaq_text(index)))),
    };
    i.filter(|&i| i < len).ok_or_else(|| Stop::Error(format!("index {} out of bounds", jaq_text(index))))
}
