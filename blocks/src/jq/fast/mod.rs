//! A native fast path for a subset of jq: the program's syntax tree (parsed by jaq's own parser)
//! is translated into an [`Expr`] that runs directly on `&serde_json::Value`, without converting
//! the message into jaq's values and back.
//!
//! # What is covered
//!
//! Programs built only from: `.`, paths with constant or computed indices (`.a`, `.a.b`, `."a"`,
//! `.[0]`, `.[-1]`, `.[.k]`, each optionally with `?`), literals (`null`, `true`, `false`,
//! integers, decimals that print as written, strings without interpolation), `== != < <= > >=`,
//! `and`, `or`, `not`, `+ - * / %`, unary minus, `|`, `length`, `select(f)`, `empty`,
//! `if … then … elif … else … end`, arrays `[a, b]`, objects `{a, b: f, "c": f, (f): g}`, and
//! `p = f`, `p |= f`, `p += f` (and `-= *= /= %=`) where `p` is `.` or a path starting at `.`.
//! Every such program yields at most one output, so evaluation returns `Option<Value>`.
//! Anything else (`.[]`, `,` outside an array, `//`, `try`, `reduce`, variables, definitions,
//! other functions, string interpolation, formats, slices) is not translated: the program runs on
//! jaq, unchanged.
//!
//! # How it stays identical to jaq
//!
//! Each construct follows the rules of jaq's evaluator (`jaq_core::filter`), including which
//! operand is evaluated first and what happens when one side has no output and the other fails
//! (see [`eval`]), and jaq's value semantics (`jaq_json`): number kinds, ordering, indexing,
//! error messages; except where runnel's jq programs follow jq instead (module `natives`), and
//! so does this: updates grow `null` and arrays, fractional positions round down, `%` works on
//! truncated integers, string repetition follows jq's counts. Where reproducing jaq exactly would cost more than it is worth (integer
//! overflow into big integers, non-finite floats, non-string object keys, string division,
//! range indices), evaluation stops with [`Stop::Fallback`] and the whole program runs on jaq for
//! that input; evaluation has no side effects, so starting over is always correct.
//!
//! # Known differences
//!
//! - `length` of -2^63 is 2^63 here; jaq overflows (a panic in debug builds, -2^63 otherwise).
//! - An output nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH) (256 levels) fails with
//!   `TooDeep` on jaq. Programs that nest more than 64 levels (counting the paths they assign)
//!   are not translated, so only an input already nested more than 192 levels deep, which JSON
//!   text parsed by serde_json cannot be, can come out deeper here than jaq allows.

mod compare;
mod display;
mod eval;
mod math;
mod path;
mod translate;
mod update;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use jaq_core::ops::{Cmp, Math};
use serde_json::Value;

/// A jq program translated for the fast path.
#[derive(Debug)]
pub(super) struct FastProgram {
    expr: Expr,
}

impl FastProgram {
    /// The fast form of `source`, if every part of it is covered (see the module docs) and it
    /// nests at most 64 levels deep. `source` must already have compiled with jaq, so that
    /// names such as `length` mean jaq's built-ins.
    pub(super) fn translate(source: &str) -> Option<Self> {
        translate::program(source).map(|expr| Self { expr })
    }

    /// The program's output on `input`: none, one value, or why it stopped.
    pub(super) fn run<'a>(&'a self, input: &'a Value) -> Result<Option<Cow<'a, Value>>, Stop> {
        self.expr.eval(input)
    }

    /// The program's output on `value`, left in `value`: `Ok(true)` when there is one,
    /// `Ok(false)` when there is none. Assignments change `value` in place rather than a copy;
    /// `value` is unchanged unless this returns `Ok(true)`.
    pub(super) fn run_in_place(&self, value: &mut Value) -> Result<bool, Stop> {
        match &self.expr {
            Expr::Assign(..) | Expr::Update(..) | Expr::UpdateMath(..) => update::in_place(&self.expr, value),
            expr => match expr.eval(value)? {
                Some(output) => {
                    let output = output.into_owned();
                    *value = output;
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }

    /// The output as a reference into the input or the program, for programs that are a path or
    /// a constant (`None` for any other).
    pub(super) fn borrow<'a>(&'a self, input: &'a Value) -> Option<Result<Option<&'a Value>, Stop>> {
        self.expr.borrow(input)
    }

    /// Whether the program's output on `input` is truthy (`None`: it has no output).
    pub(super) fn run_bool(&self, input: &Value) -> Result<Option<bool>, Stop> {
        self.expr.truth(input)
    }
}

/// Why a fast evaluation produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stop {
    /// The program raised this error, with jaq's message.
    Error(String),
    /// This input needs something the fast path does not reproduce; run the program on jaq.
    Fallback,
}

/// A translated jq expression. Each yields at most one output.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    /// `.`
    Id,
    /// A constant: `null`, `true`, `false`, a number or a string.
    Lit(Value),
    /// `empty`: no output.
    Empty,
    /// `.` followed by constant steps: `.a.b`, `.[0]?`, `."a"`.
    Get(Vec<Step>),
    /// `head` followed by path parts, in general: `(f).a`, `.[.k]`.
    Path(Box<Expr>, Vec<Part>),
    /// `-f`
    Neg(Box<Expr>),
    /// `l + r`, `l - r`, ...
    Math(Box<Expr>, Math, Box<Expr>),
    /// `l == r`, `l < r`, ...
    Cmp(Box<Expr>, Cmp, Box<Expr>),
    /// `l and r` (`stop` false) or `l or r` (`stop` true): `stop` when `l`'s truthiness is `stop`.
    Logic(Box<Expr>, bool, Box<Expr>),
    /// `not`
    Not,
    /// `length`
    Length,
    /// `select(f)`
    Select(Box<Expr>),
    /// `if c then t else e end` (`elif` nests; a missing `else` is `.`).
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `l | r`
    Pipe(Box<Expr>, Box<Expr>),
    /// `[a, b, ...]`: the outputs of each element, in order.
    Array(Vec<Expr>),
    /// `{k: v, ...}`
    Object(Vec<(Expr, Expr)>),
    /// `path = f`
    Assign(Vec<Part>, Box<Expr>),
    /// `path |= f`
    Update(Vec<Part>, Box<Expr>),
    /// `path += f`, `path -= f`, ...
    UpdateMath(Vec<Part>, Math, Box<Expr>),
}

/// One part of a path: `.a`, `.[f]`, optionally `?`. The index is computed on the path's input.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Part {
    /// The key or position.
    pub(super) index: Expr,
    /// With `?`: a value that cannot be indexed gives no output (or, when updating, stays as it
    /// is) instead of an error.
    pub(super) optional: bool,
}

/// One step of [`Expr::Get`]: a constant key or position, optionally with `?`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Step {
    /// The key or position.
    pub(super) index: Value,
    /// With `?`: a value that cannot be indexed gives no output instead of an error.
    pub(super) optional: bool,
}

/// jq's truthiness: everything but `null` and `false`.
pub(super) fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}
