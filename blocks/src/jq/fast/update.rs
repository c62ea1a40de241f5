//! `path = f`, `path |= f` and `path op= f`, following jaq's `map_index` and runnel's growth of
//! values (module `natives::update`): objects gain or replace the field (`|= empty` removes
//! it); arrays replace an existing position (negative from the end) and grow with `null`s to
//! hold one past their end; `null` becomes the object or array the path needs; anything else
//! cannot be updated, and a part marked `?` leaves such a value as it is.
//!
//! Everything that can fail is computed before anything is written, so an update can run on the
//! input itself ([`in_place`]) as well as on a copy ([`copy`]): on error the value is unchanged.
//! A path that needs to grow the value is walked a second time, on a copy ([`Growth`]).

use std::borrow::Cow;

use jaq_core::ops::Math;
use serde_json::Value;

use super::compare::Num;
use super::display::jaq_text;
use super::eval::{Out, product};
use super::path::{field, field_mut, position, rounded};
use super::{Expr, Part, Stop, math};

/// `assignment` (an [`Expr::Assign`], [`Expr::Update`] or [`Expr::UpdateMath`]) on a copy of
/// `input`.
pub(super) fn copy<'a>(assignment: &'a Expr, input: &'a Value) -> Out<'a> {
    let Some(Plan { parts, leaf, indices }) = plan(assignment, input)? else { return Ok(None) };
    match indices {
        _ if parts.is_empty() => Ok(leaf.apply(input)?.map(Cow::Owned)),
        Indices::Missing => Ok(Some(Cow::Borrowed(input))),
        Indices::Literal => {
            let mut output = input.clone();
            update_growing(&mut output, parts, None, leaf)?;
            Ok(Some(Cow::Owned(output)))
        }
        Indices::Computed(indices) => {
            let mut output = input.clone();
            update_growing(&mut output, parts, Some(&indices), leaf)?;
            Ok(Some(Cow::Owned(output)))
        }
    }
}

/// Whether a walk may grow the value it updates, and whether it found it had to.
#[derive(Clone, Copy, Default)]
struct Growth {
    allowed: bool,
    needed: bool,
}

/// [`update_at`], growing `value` where the path needs it ([`grows`]): then on a copy that
/// replaces `value` once the update has succeeded, so that `value` is unchanged on error.
fn update_growing(value: &mut Value, parts: &[Part], computed: Option<&[Value]>, leaf: Leaf<'_>) -> Result<(), Stop> {
    if !grows(value, parts, computed) {
        // Should the walk find it must grow after all, it falls back to jaq.
        return update_at(value, parts, computed, leaf, &mut Growth::default());
    }
    let mut grown = value.clone();
    update_at(&mut grown, parts, computed, leaf, &mut Growth { allowed: true, needed: false })?;
    *value = grown;
    Ok(())
}

/// Whether updating `value` at `parts` grows it, as [`update_at`] decides: a `null` to index
/// or an array too short, on a part without `?`. Reads only.
fn grows(value: &Value, parts: &[Part], computed: Option<&[Value]>) -> bool {
    let [part, rest @ ..] = parts else { return false };
    let (index, computed) = match computed {
        Some([index, rest @ ..]) => (index, Some(rest)),
        _ => (if let Expr::Lit(index) = &part.index { index } else { &Value::Null }, None),
    };
    match (value, index) {
        (Value::Null, Value::String(_) | Value::Number(_)) => !part.optional,
        (Value::Object(fields), Value::String(key)) => grows(field(fields, key).unwrap_or(&Value::Null), rest, computed),
        (Value::Array(items), _) => match array_position(index, items.len()) {
            Ok(at) if at >= items.len() => !part.optional,
            Ok(at) => grows(&items[at], rest, computed),
            Err(_) => false,
        },
        _ => false,
    }
}

/// `assignment` on `value` itself: `Ok(true)` when `value` holds the output, `Ok(false)` when
/// there is none. `value` is unchanged unless this returns `Ok(true)`.
pub(super) fn in_place(assignment: &Expr, value: &mut Value) -> Result<bool, Stop> {
    // `.field = f` on an object, the most common update, sets the field directly: what the
    // general path below does for it, without building a plan.
    if let Expr::Assign(parts, f) = assignment
        && let [Part { index: Expr::Lit(Value::String(key)), .. }] = parts.as_slice()
        && value.is_object()
    {
        let Some(new) = f.eval(value)? else { return Ok(false) };
        let new = new.into_owned();
        if let Value::Object(fields) = value {
            match field_mut(fields, key) {
                Some(slot) => *slot = new,
                None => {
                    fields.insert(key.clone(), new);
                }
            }
        }
        return Ok(true);
    }
    let Some(Plan { parts, leaf, indices }) = plan(assignment, value)? else { return Ok(false) };
    match indices {
        _ if parts.is_empty() => match leaf.apply(value)? {
            Some(output) => *value = output,
            None => return Ok(false),
        },
        Indices::Missing => {}
        Indices::Literal => update_growing(value, parts, None, leaf)?,
        Indices::Computed(indices) => update_growing(value, parts, Some(&indices), leaf)?,
    }
    Ok(true)
}

/// What an assignment does, computed on the input before anything changes.
struct Plan<'a> {
    parts: &'a [Part],
    leaf: Leaf<'a>,
    indices: Indices,
}

/// The indices of the path.
enum Indices {
    /// All constant: read from the parts.
    Literal,
    /// Computed on the input, one per part.
    Computed(Vec<Value>),
    /// One has no output: there is no path to update, so the value stays as it is.
    Missing,
}

/// What goes at the end of the path.
enum Leaf<'a> {
    /// `= f`: `f`'s output, computed on the input.
    Set(Value),
    /// `|= f`: `f` run on the old value.
    Update(&'a Expr),
    /// `op= f`: the old value `op` `f`'s output, computed on the input.
    Math(Math, Value),
}

impl Leaf<'_> {
    /// The new value for `old`; `None` removes it.
    fn apply(self, old: &Value) -> Result<Option<Value>, Stop> {
        match self {
            Self::Set(new) => Ok(Some(new)),
            Self::Update(f) => Ok(f.eval(old)?.map(Cow::into_owned)),
            Self::Math(op, operand) => Ok(Some(math::run(op, Cow::Borrowed(old), Cow::Owned(operand))?.into_owned())),
        }
    }

    /// Puts the new value in `slot`; `false` (and `slot` unchanged) when it is to be removed.
    fn replace(self, slot: &mut Value) -> Result<bool, Stop> {
        match self {
            Self::Set(new) => *slot = new,
            other => match other.apply(slot)? {
                Some(new) => *slot = new,
                None => return Ok(false),
            },
        }
        Ok(true)
    }
}

/// As jaq: `f` first (for `=` and `op=`; no output means no output), then the indices.
fn plan<'a>(assignment: &'a Expr, input: &Value) -> Result<Option<Plan<'a>>, Stop> {
    let (parts, leaf) = match assignment {
        Expr::Assign(parts, f) => match f.eval(input)? {
            Some(new) => (parts, Leaf::Set(new.into_owned())),
            None => return Ok(None),
        },
        Expr::Update(parts, f) => (parts, Leaf::Update(f)),
        Expr::UpdateMath(parts, op, f) => match f.eval(input)? {
            Some(operand) => (parts, Leaf::Math(*op, operand.into_owned())),
            None => return Ok(None),
        },
        _ => return Err(Stop::Fallback),
    };
    let indices = if parts.iter().all(|part| matches!(part.index, Expr::Lit(_))) {
        Indices::Literal
    } else {
        match product(parts.iter().map(|part| &part.index), input)? {
            Some(values) => Indices::Computed(values.into_iter().map(Cow::into_owned).collect()),
            None => Indices::Missing,
        }
    };
    Ok(Some(Plan { parts, leaf, indices }))
}

/// Updates `value` at `parts`; `computed` holds their indices unless they are all constant.
/// Values move as little as possible: `serde_json::Value` is slow to move through layers of
/// `Result` and `Option`. Where the value must grow and `growth` does not allow it, stops with
/// [`Stop::Fallback`] and notes it in `growth`, before anything is written.
fn update_at(value: &mut Value, parts: &[Part], computed: Option<&[Value]>, leaf: Leaf<'_>, growth: &mut Growth) -> Result<(), Stop> {
    let [part, rest @ ..] = parts else { return Ok(()) };
    let (index, computed) = match computed {
        Some([index, rest @ ..]) => (index, Some(rest)),
        _ => (if let Expr::Lit(index) = &part.index { index } else { &Value::Null }, None),
    };
    if value.is_null() && !part.optional && matches!(index, Value::String(_) | Value::Number(_)) {
        if !growth.allowed {
            growth.needed = true;
            return Err(Stop::Fallback);
        }
        *value = if index.is_string() { Value::Object(serde_json::Map::new()) } else { Value::Array(Vec::new()) };
    }
    match (value, index) {
        // jaq updates slices here.
        (Value::String(_) | Value::Array(_), Value::Object(_)) => Err(Stop::Fallback),
        (Value::Object(fields), Value::String(key)) => match field_mut(fields, key) {
            Some(slot) if rest.is_empty() => {
                if !leaf.replace(slot)? {
                    fields.shift_remove(key);
                }
                Ok(())
            }
            Some(slot) => update_at(slot, rest, computed, leaf, growth),
            None => {
                // As jaq: the update runs on `null`, and adds the field if it has an output.
                let mut child = Value::Null;
                let output =
                    if rest.is_empty() { leaf.replace(&mut child)? } else { update_at(&mut child, rest, computed, leaf, growth).map(|()| true)? };
                if output {
                    fields.insert(key.clone(), child);
                }
                Ok(())
            }
        },
        // jaq would add a key that is not a string.
        (Value::Object(_), _) => Err(Stop::Fallback),
        (Value::Array(items), _) => {
            let at = match array_position(index, items.len()) {
                Ok(at) => at,
                Err(_) if part.optional => return Ok(()),
                Err(error) => return Err(error),
            };
            if at >= items.len() {
                // As jaq: `?` leaves an array too short for the position as it is.
                if part.optional {
                    return Ok(());
                }
                if !growth.allowed {
                    growth.needed = true;
                    return Err(Stop::Fallback);
                }
                items.resize(at + 1, Value::Null);
            }
            if !rest.is_empty() {
                return update_at(&mut items[at], rest, computed, leaf, growth);
            }
            if !leaf.replace(&mut items[at])? {
                items.remove(at);
            }
            Ok(())
        }
        _ if part.optional => Ok(()),
        (value, _) => Err(Stop::Error(format!("cannot use {} as iterable (array or object)", jaq_text(value)))),
    }
}

/// The largest position jq lets an update write in an array (as `natives::update`).
const MAX_POSITION: u64 = 536_870_911;

/// Where `index` points in an array of `len` items, or jaq's error: past the end is a position
/// the array grows to hold, before its start jq's error.
fn array_position(index: &Value, len: usize) -> Result<usize, Stop> {
    let negative = || Stop::Error("Out of bounds negative array index".into());
    let too_large = || Stop::Error("Array index too large".into());
    let rounded = rounded(index);
    match rounded.as_ref().unwrap_or(index) {
        Value::Number(n) => match Num::of(n) {
            Num::Int(i) if i < 0 => position(i, len).ok_or_else(negative),
            Num::Int(i) if i as u64 > MAX_POSITION => Err(too_large()),
            Num::Int(i) => Ok(i as usize),
            Num::Big(_) => Err(too_large()),
            // Too far from zero for a position, as `natives::update` finds it.
            Num::Float(f) if f < 0.0 => Err(negative()),
            Num::Float(_) => Err(too_large()),
        },
        _ => Err(Stop::Error(format!("cannot use {} as integer", jaq_text(index)))),
    }
}
