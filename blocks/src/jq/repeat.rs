//! String repetition (`"ab" * n`) within the jq budget.
//!
//! jaq builds `s * n` in one step, between two of the budget's checkpoints: `"ab" * 1e7`
//! would hold 20 MB past a 16 MiB budget, `"ab" * 1e12` would ask the allocator for 2 TB at
//! once (which aborts the process) and a repetition longer than memory can address would panic.
//! The instrumented program (module `instrument`) multiplies through [`MUL`] instead, which
//! checks the length of a repeated string against the budget before jaq builds it. jq 1.8
//! refuses a repetition past its limits with the error kept here, "Repeat string result too
//! long"; a program can catch that one, not an overrun budget.

use std::cmp::Ordering;

use jaq_core::native::Fun;
use jaq_core::{Bind, Error, Exn, Native};
use jaq_json::{Num, Val};

use super::Data;
use super::budget;

/// The name of the multiplication the instrumented program calls: `MUL(l; r)` is `l * r`.
pub(super) const MUL: &str = "__runnel_mul";

/// [`MUL`] as a native filter: the cartesian product of its arguments' outputs, `l`'s in the
/// outer loop and each error paired with every output of `r`, as jaq's `*` makes it.
pub(super) fn mul() -> Fun<Data> {
    let native = Native::<Data>::new(|mut cv| {
        let (r, r_ctx) = cv.0.pop_fun();
        let (l, l_ctx) = cv.0.pop_fun();
        let input = cv.1;
        let products = l.run((l_ctx, input.clone())).flat_map(move |x| r.run((r_ctx.clone(), input.clone())).map(move |y| multiply(x.clone()?, y?)));
        Box::new(products)
    });
    (MUL, Box::new([Bind::Fun(()), Bind::Fun(())]), native)
}

/// `l * r`, checking a repeated string against the budget first.
fn multiply<'a>(l: Val, r: Val) -> Result<Val, Exn<'a, Val>> {
    if let Some(bytes) = repeated_len(&l, &r) {
        match bytes {
            Some(bytes) if isize::try_from(bytes).is_ok() => budget::reserve(bytes as u64),
            _ => return Err(Exn::from(Error::str("Repeat string result too long"))),
        }
    }
    (l * r).map_err(Exn::from)
}

/// When `l * r` repeats a string: how many bytes the result takes, `None` when that overflows.
fn repeated_len(l: &Val, r: &Val) -> Option<Option<usize>> {
    let (text, times) = match (l, r) {
        (Val::TStr(s) | Val::BStr(s), Val::Num(n)) | (Val::Num(n), Val::TStr(s) | Val::BStr(s)) => (s, n),
        _ => return None,
    };
    let times = match times {
        Num::Int(i) => usize::try_from(*i).ok()?,
        // jaq saturates a big integer: a positive one repeats past any memory.
        Num::BigInt(_) if Val::Num(times.clone()).cmp(&Val::Num(Num::Int(0))) == Ordering::Greater => usize::MAX,
        _ => return None,
    };
    Some(text.len().checked_mul(times))
}
