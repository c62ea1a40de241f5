//! Puts a call to the budget's checkpoint ([`super::budget::TICK`]) wherever a jq program can
//! run for long: at the start of every definition's body (every loop in jq is a recursive
//! definition, `until`, `while`, `repeat`, `range/1` and `recurse` included), in the update of
//! every `reduce` and `foreach`, after every element of an array construction (so
//! `[range(1e9)]` is checked as it grows, although `range/3` is native) and after every output
//! of a call's argument (natives such as `last(f)` loop over them).
//!
//! jaq keeps a parsed program's modules private between loading and compiling, so the program
//! is parsed here (after [`super::compile`] has checked it and located its errors), instrumented,
//! and handed to the loader as one more definition of the prelude, which the main program calls.
//! Every name stays a slice of the original text.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::path::{Part, Path};

use super::budget::TICK;

/// The name of the definition holding the user's program.
pub(super) const MAIN: &str = "__runnel_main";

/// `prelude` with a checkpoint in every body, followed by the program `main` as the definition
/// [`MAIN`], itself instrumented.
pub(super) fn instrument<'s>(prelude: impl IntoIterator<Item = Def>, main: Term<&'s str>) -> Vec<Def<&'s str>> {
    // The prelude's names live as long as the program: its definitions fit among the program's.
    let mut defs: Vec<Def<&'s str>> = prelude.into_iter().collect::<Vec<Def>>();
    defs.push(Def { name: MAIN, args: Vec::new(), body: main });
    defs.iter_mut().for_each(instrument_def);
    defs
}

fn instrument_def(def: &mut Def<&str>) {
    term(&mut def.body);
    checked(&mut def.body);
}

/// `body` becomes `TICK | body`.
fn checked(body: &mut Term<&str>) {
    let inner = std::mem::take(body);
    *body = Term::BinOp(Box::new(Term::Call(TICK, Vec::new())), BinaryOp::Pipe(None), Box::new(inner));
}

/// `item` becomes `item | TICK`.
fn then_checked(item: &mut Term<&str>) {
    let inner = std::mem::take(item);
    *item = Term::BinOp(Box::new(inner), BinaryOp::Pipe(None), Box::new(Term::Call(TICK, Vec::new())));
}

fn term(t: &mut Term<&str>) {
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => parts.iter_mut().for_each(|part| {
            if let StrPart::Term(inner) = part {
                term(inner);
            }
        }),
        Term::Arr(None) => {}
        Term::Arr(Some(items)) => {
            term(items);
            then_checked(items);
        }
        Term::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
            term(key);
            if let Some(value) = value {
                term(value);
            }
        }),
        Term::Neg(inner) | Term::Label(_, inner) => term(inner),
        Term::BinOp(left, op, right) => {
            term(left);
            if let BinaryOp::Pipe(Some(p)) = op {
                pattern(p);
            }
            term(right);
        }
        Term::Fold(_, xs, p, args) => {
            term(xs);
            pattern(p);
            args.iter_mut().for_each(term);
            // `reduce xs as $x (init; update)`, `foreach xs as $x (init; update; extract)`
            if let Some(update) = args.get_mut(1) {
                checked(update);
            }
        }
        Term::TryCatch(body, catch) => {
            term(body);
            if let Some(catch) = catch {
                term(catch);
            }
        }
        Term::IfThenElse(branches, otherwise) => {
            branches.iter_mut().for_each(|(cond, then)| {
                term(cond);
                term(then);
            });
            if let Some(otherwise) = otherwise {
                term(otherwise);
            }
        }
        Term::Def(defs, rest) => {
            defs.iter_mut().for_each(instrument_def);
            term(rest);
        }
        // Natives such as `last(f)` and `limit(n; f)` loop over an argument's outputs.
        Term::Call(_, args) => args.iter_mut().for_each(|arg| {
            term(arg);
            then_checked(arg);
        }),
        Term::Path(head, Path(parts)) => {
            term(head);
            parts.iter_mut().for_each(|(part, _)| match part {
                Part::Index(index) => term(index),
                Part::Range(from, to) => {
                    from.iter_mut().for_each(term);
                    to.iter_mut().for_each(term);
                }
            });
        }
    }
}

fn pattern(p: &mut Pattern<&str>) {
    match p {
        Pattern::Var(_) => {}
        Pattern::Arr(items) => items.iter_mut().for_each(pattern),
        Pattern::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
            term(key);
            pattern(value);
        }),
    }
}
