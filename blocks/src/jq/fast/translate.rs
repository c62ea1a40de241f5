//! From jaq's syntax tree (`jaq_core::load::parse::Term`) to [`Expr`], or `None` when any part
//! of the program is outside the fast subset.
//!
//! Names are resolved as jaq resolves them in a program without definitions: `length` is jaq's
//! native filter, `not`, `select`, `empty`, `true`, `false` and `null` are the standard
//! library's definitions (`def not: if . then false else true end;` and so on). A program with
//! its own `def` is never translated, so nothing can shadow them.

use jaq_core::ValT;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::path::{self, Opt};
use jaq_json::{Num, Val};
use serde_json::Value;

use super::{Expr, Part, Step, math};
use crate::jq::convert;

/// How deep a translated program may be ([`depth`]). Evaluating it recurses that deep on the
/// caller's stack, and nests outputs up to that much deeper than the input: deeper programs run
/// on jaq, whose evaluation checks the stack left and which refuses outputs nested deeper than
/// [`convert::MAX_DEPTH`].
const MAX_DEPTH: usize = 64;

/// Parses `source` with jaq's parser and translates it, if it is at most [`MAX_DEPTH`] deep.
pub(super) fn program(source: &str) -> Option<Expr> {
    let term = jaq_core::load::parse(source, |parser| parser.term())?;
    expr(&term).filter(|expr| depth(expr) <= MAX_DEPTH)
}

/// How deep `expr` nests: its own nesting, plus the length of each assignment's path, which
/// builds as many levels of output.
fn depth(expr: &Expr) -> usize {
    let parts = |parts: &[Part]| parts.iter().map(|part| depth(&part.index)).max().unwrap_or(0);
    1 + match expr {
        Expr::Id | Expr::Lit(_) | Expr::Empty | Expr::Get(_) | Expr::Not | Expr::Length => 0,
        Expr::Path(head, path) => depth(head).max(parts(path)),
        Expr::Neg(f) | Expr::Select(f) => depth(f),
        Expr::Math(l, _, r) | Expr::Cmp(l, _, r) | Expr::Logic(l, _, r) | Expr::Pipe(l, r) => depth(l).max(depth(r)),
        Expr::If(cond, then, otherwise) => depth(cond).max(depth(then)).max(depth(otherwise)),
        Expr::Array(items) => items.iter().map(depth).max().unwrap_or(0),
        Expr::Object(entries) => entries.iter().map(|(k, v)| depth(k).max(depth(v))).max().unwrap_or(0),
        Expr::Assign(path, f) | Expr::Update(path, f) | Expr::UpdateMath(path, _, f) => path.len() + parts(path).max(depth(f)),
    }
}

fn expr(term: &Term<&str>) -> Option<Expr> {
    Some(match term {
        Term::Id => Expr::Id,
        Term::Num(text) => Expr::Lit(number(text)?),
        Term::Str(None, parts) => Expr::Lit(Value::String(string(parts)?)),
        Term::Arr(None) => Expr::Array(Vec::new()),
        Term::Arr(Some(items)) => {
            let mut elements = Vec::new();
            comma_items(items, &mut elements)?;
            Expr::Array(elements)
        }
        Term::Obj(entries) => Expr::Object(entries.iter().map(object_entry).collect::<Option<_>>()?),
        Term::Neg(f) => match expr(f)? {
            // `-1` is a literal for jaq too (`.[-1]` indexes by a constant).
            Expr::Lit(n @ Value::Number(_)) => Expr::Lit(math::negate(&n).ok()?),
            f => Expr::Neg(Box::new(f)),
        },
        Term::BinOp(l, op, r) => binary(l, op, r)?,
        Term::IfThenElse(branches, otherwise) => {
            let otherwise = match otherwise {
                Some(otherwise) => expr(otherwise)?,
                None => Expr::Id,
            };
            branches.iter().rev().try_fold(otherwise, |otherwise, (cond, then)| Some(Expr::If(boxed(cond)?, boxed(then)?, Box::new(otherwise))))?
        }
        Term::Call(name, args) => call(name, args)?,
        Term::Path(head, path) => read_path(expr(head)?, parts(&path.0)?),
        _ => return None,
    })
}

fn boxed(term: &Term<&str>) -> Option<Box<Expr>> {
    expr(term).map(Box::new)
}

fn binary(l: &Term<&str>, op: &BinaryOp<&str>, r: &Term<&str>) -> Option<Expr> {
    Some(match op {
        BinaryOp::Pipe(None) => Expr::Pipe(boxed(l)?, boxed(r)?),
        BinaryOp::Math(op) => Expr::Math(boxed(l)?, *op, boxed(r)?),
        BinaryOp::Cmp(op) => Expr::Cmp(boxed(l)?, *op, boxed(r)?),
        BinaryOp::And => Expr::Logic(boxed(l)?, false, boxed(r)?),
        BinaryOp::Or => Expr::Logic(boxed(l)?, true, boxed(r)?),
        BinaryOp::Assign => Expr::Assign(target(l)?, boxed(r)?),
        BinaryOp::Update => Expr::Update(target(l)?, boxed(r)?),
        BinaryOp::UpdateMath(op) => Expr::UpdateMath(target(l)?, *op, boxed(r)?),
        // `as $x |`, `,`, `//`, `//=`
        _ => return None,
    })
}

/// `head` then `parts`; [`Expr::Get`] when that is `.` with constant indices.
fn read_path(head: Expr, parts: Vec<Part>) -> Expr {
    let step = |part: &Part| match &part.index {
        Expr::Lit(index) => Some(Step { index: index.clone(), optional: part.optional }),
        _ => None,
    };
    match parts.iter().map(step).collect::<Option<Vec<_>>>() {
        Some(steps) if head == Expr::Id => Expr::Get(steps),
        _ => Expr::Path(Box::new(head), parts),
    }
}

/// The left side of an assignment: `.` or a path starting at `.`.
fn target(term: &Term<&str>) -> Option<Vec<Part>> {
    match term {
        Term::Id => Some(Vec::new()),
        Term::Path(head, path) if matches!(**head, Term::Id) => parts(&path.0),
        _ => None,
    }
}

fn parts(path: &[(path::Part<Term<&str>>, Opt)]) -> Option<Vec<Part>> {
    let part = |(part, opt): &(path::Part<Term<&str>>, Opt)| match part {
        path::Part::Index(index) => Some(Part { index: expr(index)?, optional: matches!(opt, Opt::Optional) }),
        // `.[]` and slices
        path::Part::Range(..) => None,
    };
    path.iter().map(part).collect()
}

/// The elements of `[a, b, c]`, which jaq parses as `(a, b), c`.
fn comma_items(term: &Term<&str>, into: &mut Vec<Expr>) -> Option<()> {
    match term {
        Term::BinOp(l, BinaryOp::Comma, r) => {
            comma_items(l, into)?;
            comma_items(r, into)
        }
        other => {
            into.push(expr(other)?);
            Some(())
        }
    }
}

/// `{k: v}`, `{k}` (the field `k` of the input), `{"k": v}`, `{(f): v}`; not `{$x}`.
fn object_entry((key, value): &(Term<&str>, Option<Term<&str>>)) -> Option<(Expr, Expr)> {
    let key = match key {
        Term::Var(_) => return None,
        key => expr(key)?,
    };
    let value = match value {
        Some(value) => expr(value)?,
        None => read_path(Expr::Id, vec![Part { index: key.clone(), optional: false }]),
    };
    Some((key, value))
}

fn call(name: &str, args: &[Term<&str>]) -> Option<Expr> {
    Some(match (name, args) {
        ("length", []) => Expr::Length,
        ("not", []) => Expr::Not,
        ("empty", []) => Expr::Empty,
        ("true", []) => Expr::Lit(Value::Bool(true)),
        ("false", []) => Expr::Lit(Value::Bool(false)),
        ("null", []) => Expr::Lit(Value::Null),
        ("select", [cond]) => Expr::Select(boxed(cond)?),
        _ => return None,
    })
}

/// A string literal without interpolation or format.
fn string(parts: &[StrPart<&str, Term<&str>>]) -> Option<String> {
    let mut text = String::new();
    for part in parts {
        match part {
            StrPart::Str(s) => text.push_str(s),
            StrPart::Char(c) => text.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some(text)
}

/// A number literal, as jaq reads it: an integer, or a decimal that jaq keeps as text and turns
/// into a float when computing. Only decimals whose JSON value, float value and printed form
/// all agree are taken (`1.5`, `0.25`, `100.0`; not `1e3`, `1.50` or big integers), so that
/// outputs and error messages read the same as jaq's.
fn number(text: &str) -> Option<Value> {
    match Val::from_num(text).ok()? {
        Val::Num(Num::Int(i)) => Some(Value::from(i64::try_from(i).ok()?)),
        val @ Val::Num(Num::Dec(_)) => {
            let float: f64 = text.parse().ok()?;
            let value = Value::from(serde_json::Number::from_f64(float)?);
            let same = float.is_finite() && ryu::Buffer::new().format_finite(float) == text && convert::from_val(&val).as_ref() == Ok(&value);
            same.then_some(value)
        }
        _ => None,
    }
}
