//! Puts a call to the budget's checkpoint ([`super::budget::TICK`]) wherever a jq program can
//! run for long: at the start of every recursive definition's body (every loop in jq is one,
//! `until`, `while`, `repeat` and `recurse` included), in the update of
//! every `reduce` and `foreach`, after every element of an array construction (so
//! `[range(1e9)]` is checked as it grows, although `range/3` is native) and after every output
//! of a native filter's argument (natives such as `last(f)` loop over them). Multiplications
//! go through [`MUL`], which checks a repeated string's length first (module `repeat`).
//!
//! jaq keeps a parsed program's modules private between loading and compiling, so the program
//! is parsed here (after [`super::compile`] has checked it and located its errors), instrumented,
//! and handed to the loader as one more definition of the prelude, which the main program calls.
//! Every name stays a slice of the original text.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::path::{Part, Path};

use jaq_core::ops::{Cmp, Math};

use super::budget::TICK;
use super::natives::{DIV, EQUAL, INDEX, JQ_ERRORS, NOT_EQUAL, REM, SLICE_END, SLICE_START, TOSTRING, UPDATE};
use super::repeat::MUL;

/// What instrumenting a definition needs to know.
#[derive(Clone)]
pub(super) struct Natives {
    /// The native filters (jaq's, written in Rust) that take filter arguments.
    pub(super) names: std::collections::HashSet<&'static str>,
    /// Whether `*`, `/`, `%` and caught errors follow jq's rules: in the program and runnel's
    /// prelude, not in jaq's own definitions (its `nan` is `0 / 0`).
    pub(super) jq_arithmetic: bool,
}

impl Natives {
    fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// The name of the definition holding the user's program.
pub(super) const MAIN: &str = "__runnel_main";

/// jaq's definitions `jaq` and runnel's `prelude` with a checkpoint in every body, followed by
/// the program `main` as the definition [`MAIN`], itself instrumented.
#[allow(clippy::map_identity)]
pub(super) fn instrument<'s>(
    jaq: impl IntoIterator<Item = Def>,
    prelude: impl IntoIterator<Item = Def>,
    main: Term<&'s str>,
    natives: &Natives,
) -> Vec<Def<&'s str>> {
    let main = Def { name: MAIN, args: Vec::new(), body: main };
    let jaqs = Natives { jq_arithmetic: false, ..natives.clone() };
    let ours = Natives { jq_arithmetic: true, ..natives.clone() };
    // Not the identity: it shortens the prelude's `&'static str` names to the program's `'s`.
    let shorten = |def| -> Def<&'s str> { def };
    let jaq = jaq.into_iter().map(shorten).map(|mut def| {
        instrument_def(&mut def, &jaqs);
        def
    });
    let ours = prelude.into_iter().map(shorten).chain([main]).map(|mut def| {
        instrument_def(&mut def, &ours);
        def
    });
    jaq.chain(ours).collect()
}

/// Checks a definition's body when it is recursive: only a recursive definition can loop.
fn instrument_def(def: &mut Def<&str>, natives: &Natives) {
    let recursive = calls(&def.body, def.name);
    term(&mut def.body, natives);
    if recursive {
        checked(&mut def.body);
    }
}

/// Whether `t` calls `name` (with any arity), in nested definitions too. jq defines a name
/// before its use, so a definition can reach itself only by calling its name from its body.
fn calls(t: &Term<&str>, name: &str) -> bool {
    let any = |terms: &mut dyn Iterator<Item = &Term<&str>>| {
        for t in terms {
            if calls(t, name) {
                return true;
            }
        }
        false
    };
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) | Term::Arr(None) => false,
        Term::Str(_, parts) => any(&mut parts.iter().filter_map(|p| if let StrPart::Term(t) = p { Some(t) } else { None })),
        Term::Arr(Some(t)) | Term::Neg(t) | Term::Label(_, t) => calls(t, name),
        Term::Obj(entries) => any(&mut entries.iter().flat_map(|(k, v)| std::iter::once(k).chain(v))),
        Term::BinOp(l, _, r) => calls(l, name) || calls(r, name),
        Term::Fold(_, xs, _, args) => calls(xs, name) || any(&mut args.iter()),
        Term::TryCatch(body, catch) => calls(body, name) || catch.as_deref().is_some_and(|c| calls(c, name)),
        Term::IfThenElse(branches, otherwise) => {
            any(&mut branches.iter().flat_map(|(c, t)| [c, t])) || otherwise.as_deref().is_some_and(|o| calls(o, name))
        }
        Term::Def(defs, rest) => any(&mut defs.iter().map(|d| &d.body)) || calls(rest, name),
        Term::Call(called, args) => *called == name || any(&mut args.iter()),
        Term::Path(head, Path(parts)) => {
            calls(head, name)
                || any(&mut parts.iter().flat_map(|(part, _)| match part {
                    Part::Index(i) => vec![i],
                    Part::Range(from, to) => from.iter().chain(to).collect(),
                }))
        }
    }
}

/// `body` becomes `TICK | body`.
fn checked(body: &mut Term<&str>) {
    let inner = std::mem::take(body);
    *body = Term::BinOp(Box::new(Term::Call(TICK, Vec::new())), BinaryOp::Pipe(None), Box::new(inner));
}

/// `l op r` for `op` among `*`, `/` and `%` becomes `MUL(l; r)`, `DIV(l; r)` or `REM(l; r)`:
/// jq's rules for repeated strings, zero divisors and remainders (modules `repeat` and
/// `natives::arith`); any other operation stays as it is.
fn arithmetic<'s>(l: Term<&'s str>, op: Math, r: Term<&'s str>) -> Term<&'s str> {
    match op {
        Math::Mul => Term::Call(MUL, vec![l, r]),
        Math::Div => Term::Call(DIV, vec![l, r]),
        Math::Rem => Term::Call(REM, vec![l, r]),
        op => Term::BinOp(Box::new(l), BinaryOp::Math(op), Box::new(r)),
    }
}

/// `p |= f` becomes `UPDATE(p; f)`; `p = v` becomes `v as $V | UPDATE(p; $V)`, and so on for
/// `p op= v` (`. op $V`, through [`arithmetic`]) and `p //= v` (`. // $V`), as jaq defines
/// them. `l op r` goes through [`arithmetic`].
fn rewritten_op(t: &mut Term<&str>, jq_arithmetic: bool) {
    let Term::BinOp(l, op, r) = std::mem::take(t) else { return };
    let value = || Term::Var(VALUE);
    let arithmetic = |l, math, r| if jq_arithmetic { arithmetic(l, math, r) } else { Term::BinOp(Box::new(l), BinaryOp::Math(math), Box::new(r)) };
    *t = match op {
        BinaryOp::Math(math) => arithmetic(*l, math, *r),
        BinaryOp::Update => Term::Call(UPDATE, vec![*l, *r]),
        BinaryOp::Assign => bound(r, Term::Call(UPDATE, vec![*l, value()])),
        BinaryOp::UpdateMath(math) => bound(r, Term::Call(UPDATE, vec![*l, arithmetic(Term::Id, math, value())])),
        BinaryOp::UpdateAlt => bound(r, Term::Call(UPDATE, vec![*l, Term::BinOp(Box::new(Term::Id), BinaryOp::Alt, Box::new(value()))])),
        // Two values that may nest deeper than jq walks (module `natives::deep`); a literal on
        // either side is shallow, and the common `.kind == "chat"` stays jaq's operator.
        BinaryOp::Cmp(cmp @ (Cmp::Eq | Cmp::Ne)) if jq_arithmetic && !literal(&l) && !literal(&r) => {
            Term::Call(if matches!(cmp, Cmp::Eq) { EQUAL } else { NOT_EQUAL }, vec![*l, *r])
        }
        op => Term::BinOp(l, op, r),
    };
}

/// Whether `t` is a literal: a number, a string without interpolation, `null`, `true`,
/// `false`, `[]`, or such a literal passed through a filter without arguments (as the
/// instrumented program passes positions, see [`as_position`]).
fn literal(t: &Term<&str>) -> bool {
    match t {
        Term::Num(_) | Term::Arr(None) => true,
        Term::Str(None, parts) => parts.iter().all(|part| matches!(part, StrPart::Str(_) | StrPart::Char(_))),
        Term::Neg(inner) => literal(inner),
        Term::Call(name, args) => args.is_empty() && matches!(*name, "null" | "true" | "false"),
        Term::BinOp(l, BinaryOp::Pipe(None), r) => literal(l) && matches!(&**r, Term::Call(_, args) if args.is_empty()),
        _ => false,
    }
}

/// A path with a slice, `head.a[1:3].b`, becomes `head.a | if . == null then . else .[1:3] end
/// | .b`: jq slices `null` into `null` (jaq refuses to). The guard keeps the path a path (for
/// `path(f)` and updates: `null | .[1:3] = ["x"]` sets the `null`, as jq's does). Only when
/// the slice's bounds and the positions after it are literals: a bound such as `.n` is read
/// from the path's input, which the pipe would change.
fn null_slices(t: &mut Term<&str>) {
    let is_slice = |part: &Part<Term<&str>>| matches!(part, Part::Range(from, to) if from.is_some() || to.is_some());
    let Term::Path(_, Path(parts)) = &*t else { return };
    let Some(at) = parts.iter().position(|(part, _)| is_slice(part)) else { return };
    let context_free = |part: &Part<Term<&str>>| match part {
        Part::Index(index) => literal(index),
        Part::Range(from, to) => from.iter().chain(to).all(literal),
    };
    if !parts[at..].iter().all(|(part, _)| context_free(part)) {
        return;
    }
    let Term::Path(head, Path(mut parts)) = std::mem::take(t) else { return };
    let rest = parts.split_off(at + 1);
    let slice = parts.pop().into_iter().collect();
    let before = if parts.is_empty() { *head } else { Term::Path(head, Path(parts)) };
    let is_null = Term::BinOp(Box::new(Term::Id), BinaryOp::Cmp(Cmp::Eq), Box::new(Term::Call("null", Vec::new())));
    let guarded = Term::IfThenElse(vec![(is_null, Term::Id)], Some(Box::new(Term::Path(Box::new(Term::Id), Path(slice)))));
    let mut after = if rest.is_empty() { guarded } else { Term::Path(Box::new(guarded), Path(rest)) };
    null_slices(&mut after);
    *t = Term::BinOp(Box::new(before), BinaryOp::Pipe(None), Box::new(after));
}

/// `v as $V | body`.
fn bound<'s>(v: Box<Term<&'s str>>, body: Term<&'s str>) -> Term<&'s str> {
    Term::BinOp(v, BinaryOp::Pipe(Some(Pattern::Var(VALUE))), Box::new(body))
}

/// The variable holding the value an assignment sets or an arithmetic update applies.
const VALUE: &str = "$__runnel_value";

/// An index or slice bound `i` becomes `i | filter`, which reads a fraction as jq does (module
/// `natives::index`), unless it is a literal string or integer.
fn as_position(index: &mut Term<&str>, filter: &'static str) {
    let literal = match index {
        Term::Str(None, parts) => parts.iter().all(|part| matches!(part, StrPart::Str(_) | StrPart::Char(_))),
        Term::Num(n) => n.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    if !literal {
        let inner = std::mem::take(index);
        *index = Term::BinOp(Box::new(inner), BinaryOp::Pipe(None), Box::new(Term::Call(filter, Vec::new())));
    }
}

/// `item` becomes `item | TICK`.
fn then_checked(item: &mut Term<&str>) {
    let inner = std::mem::take(item);
    *item = Term::BinOp(Box::new(inner), BinaryOp::Pipe(None), Box::new(Term::Call(TICK, Vec::new())));
}

fn term(t: &mut Term<&str>, natives: &Natives) {
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(format, parts) => {
            let plain = format.is_none() && natives.jq_arithmetic;
            parts.iter_mut().for_each(|part| {
                if let StrPart::Term(inner) = part {
                    term(inner, natives);
                    // `"\(x)"` writes `x` as jq's `tostring` does (module `natives::text`).
                    if plain {
                        let value = std::mem::take(inner);
                        *inner = Term::BinOp(Box::new(value), BinaryOp::Pipe(None), Box::new(Term::Call(TOSTRING, Vec::new())));
                    }
                }
            })
        }
        Term::Arr(None) => {}
        Term::Arr(Some(items)) => {
            term(items, natives);
            then_checked(items);
        }
        Term::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
            term(key, natives);
            if let Some(value) = value {
                term(value, natives);
            }
        }),
        Term::Neg(inner) | Term::Label(_, inner) => term(inner, natives),
        Term::BinOp(left, op, right) => {
            term(left, natives);
            if let BinaryOp::Pipe(Some(p)) = op {
                pattern(p, natives);
            }
            term(right, natives);
            rewritten_op(t, natives.jq_arithmetic);
        }
        Term::Fold(_, xs, p, args) => {
            term(xs, natives);
            pattern(p, natives);
            args.iter_mut().for_each(|t| term(t, natives));
            // `reduce xs as $x (init; update)`, `foreach xs as $x (init; update; extract)`
            if let Some(update) = args.get_mut(1) {
                checked(update);
            }
        }
        Term::TryCatch(body, catch) => {
            term(body, natives);
            if let Some(catch) = catch {
                term(catch, natives);
                // What `catch` sees is worded as in jq (module `natives::errors`).
                if natives.jq_arithmetic {
                    let inner = std::mem::take(&mut **body);
                    **body = Term::Call(JQ_ERRORS, vec![inner]);
                }
            }
        }
        Term::IfThenElse(branches, otherwise) => {
            branches.iter_mut().for_each(|(cond, then)| {
                term(cond, natives);
                term(then, natives);
            });
            if let Some(otherwise) = otherwise {
                term(otherwise, natives);
            }
        }
        Term::Def(defs, rest) => {
            defs.iter_mut().for_each(|def| instrument_def(def, natives));
            term(rest, natives);
        }
        // Natives such as `last(f)` and `limit(n; f)` loop over an argument's outputs; a
        // definition's own body is checked already.
        Term::Call(name, args) => args.iter_mut().for_each(|arg| {
            term(arg, natives);
            if natives.contains(name) {
                then_checked(arg);
            }
        }),
        Term::Path(head, Path(parts)) => {
            term(head, natives);
            parts.iter_mut().for_each(|(part, _)| match part {
                Part::Index(index) => {
                    term(index, natives);
                    as_position(index, INDEX);
                }
                Part::Range(from, to) => {
                    from.iter_mut().for_each(|t| {
                        term(t, natives);
                        as_position(t, SLICE_START);
                    });
                    to.iter_mut().for_each(|t| {
                        term(t, natives);
                        as_position(t, SLICE_END);
                    });
                }
            });
            if natives.jq_arithmetic {
                null_slices(t);
            }
        }
    }
}

fn pattern(p: &mut Pattern<&str>, natives: &Natives) {
    match p {
        Pattern::Var(_) => {}
        Pattern::Arr(items) => items.iter_mut().for_each(|p| pattern(p, natives)),
        Pattern::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
            term(key, natives);
            pattern(value, natives);
        }),
    }
}
