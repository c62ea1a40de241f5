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

use super::{Expr, Stop, compare, math, path, truthy, update};

/// At most one output, or why there is none.
pub(super) type Out<'a> = Result<Option<Cow<'a, Value>>, Stop>;

/// At most one output that points into the input or the program, or why there is none.
type Borrowed<'a> = Result<Option<&'a Value>, Stop>;

impl Expr {
    pub(super) fn eval<'a>(&'a self, input: &'a Value) -> Out<'a> {
        let value = match self {
            Self::Id => Cow::Borrowed(input),
            Self::Lit(value) => Cow::Borrowed(value),
            Self::Empty => return Ok(None),
            Self::Get(steps) => return Ok(path::get(steps, input)?.map(Cow::Borrowed)),
            Self::Path(head, parts) => return path::path(head, parts, input),
            Self::Neg(f) => match f.eval(input)? {
                Some(v) => Cow::Owned(math::negate(&v)?),
                None => return Ok(None),
            },
            Self::Math(l, op, r) => match both(l.eval(input), || r.eval(input))? {
                Some((l, r)) => math::run(*op, l, r)?,
                None => return Ok(None),
            },
            Self::Cmp(..) | Self::Logic(..) | Self::Not => match self.truth(input)? {
                Some(b) => Cow::Owned(Value::Bool(b)),
                None => return Ok(None),
            },
            Self::Length => Cow::Owned(math::length(input)?),
            Self::Select(cond) => match cond.truth(input)? {
                Some(true) => Cow::Borrowed(input),
                _ => return Ok(None),
            },
            Self::If(cond, then, otherwise) => match cond.truth(input)? {
                Some(true) => return then.eval(input),
                Some(false) => return otherwise.eval(input),
                None => return Ok(None),
            },
            Self::Pipe(l, r) => match l.borrow(input) {
                Some(v) => return v?.map_or(Ok(None), |v| r.eval(v)),
                None => match l.eval(input)? {
                    Some(Cow::Borrowed(v)) => return r.eval(v),
                    // `r`'s output may borrow from `v`, which ends here.
                    Some(Cow::Owned(v)) => return Ok(r.eval(&v)?.map(|out| Cow::Owned(out.into_owned()))),
                    None => return Ok(None),
                },
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
            Self::Assign(..) | Self::Update(..) | Self::UpdateMath(..) => return update::copy(self, input),
        };
        Ok(Some(value))
    }

    /// The output of `.`, a literal or a path with constant indices from `.`, by reference
    /// (cheaper than a `Cow`); `None` for other expressions.
    pub(super) fn borrow<'a>(&'a self, input: &'a Value) -> Option<Borrowed<'a>> {
        match self {
            Self::Id => Some(Ok(Some(input))),
            Self::Lit(value) => Some(Ok(Some(value))),
            Self::Get(steps) => Some(path::get(steps, input)),
            _ => None,
        }
    }

    /// Whether the output is truthy, computed without building it where possible: for
    /// conditions (`select`, `if`, the `filter` block).
    pub(super) fn truth<'a>(&'a self, input: &'a Value) -> Result<Option<bool>, Stop> {
        match self {
            Self::Cmp(l, op, r) => {
                let pair = match (l.borrow(input), r.borrow(input)) {
                    (Some(l), Some(r)) => both(l, || r)?.map(|(l, r)| compare::run(*op, l, r)),
                    _ => both(l.eval(input), || r.eval(input))?.map(|(l, r)| compare::run(*op, &l, &r)),
                };
                Ok(pair)
            }
            Self::Logic(l, stop, r) => match l.truth(input)? {
                Some(l) if l == *stop => Ok(Some(*stop)),
                Some(_) => r.truth(input),
                None => Ok(None),
            },
            Self::Not => Ok(Some(!truthy(input))),
            other => match other.borrow(input) {
                Some(value) => Ok(value?.map(truthy)),
                None => Ok(other.eval(input)?.map(|value| truthy(&value))),
            },
        }
    }
}

/// The outputs of `l` and `r` under the cartesian-product rule (module docs): `l` first; when
/// `l` fails, `r` (run only if needed) still decides whether there is any output.
fn both<A, B>(l: Result<Option<A>, Stop>, r: impl FnOnce() -> Result<Option<B>, Stop>) -> Result<Option<(A, B)>, Stop> {
    match l {
        Ok(Some(l)) => Ok(r()?.map(|r| (l, r))),
        Ok(None) => Ok(None),
        Err(Stop::Error(error)) => match r() {
            Ok(None) => Ok(None),
            Err(Stop::Fallback) => Err(Stop::Fallback),
            Ok(Some(_)) | Err(Stop::Error(_)) => Err(Stop::Error(error)),
        },
        Err(Stop::Fallback) => Err(Stop::Fallback),
    }
}

/// The outputs of `exprs`, all run on `input`, under the cartesian-product rule (module docs).
pub(super) fn product<'a>(exprs: impl Iterator<Item = &'a Expr>, input: &'a Value) -> Result<Option<Vec<Cow<'a, Value>>>, Stop> {
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
    let Some(values) = product(exprs, input)? else { return Ok(None) };
    let mut fields = Map::new();
    let mut values = values.into_iter();
    while let (Some(key), Some(value)) = (values.next(), values.next()) {
        let Value::String(key) = key.into_owned() else { return Err(Stop::Fallback) };
        fields.insert(key, value.into_owned());
    }
    Ok(Some(fields))
}
