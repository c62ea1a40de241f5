//! String repetition (`"ab" * n`) within the jq budget.
//!
//! jaq builds `s * n` in one step, between two of the budget's checkpoints: `"ab" * 1e7`
//! would hold 20 MB past a 16 MiB budget, `"ab" * 1e12` would ask the allocator for 2 TB at
//! once (which aborts the process) and a repetition longer than memory can address would panic.
//! The instrumented program (module `instrument`) multiplies through [`MUL`] instead, which
//! checks the length of a repeated string against the budget before jaq builds it. jq 1.8
//! refuses a repetition longer than 2^31 bytes with the error kept here, "Repeat string result
//! too long"; a program can catch that one, not an overrun budget. It also follows jq's rules
//! where jaq's differ: `"ab" * 0` is `""` (jaq: `null`) and a fraction counts whole repetitions
//! (jaq refuses it).

use jaq_core::native::Fun;
use jaq_core::{Bind, Error, Native};
use jaq_json::Val;

use super::Data;
use super::budget;
use super::natives;

/// The name of the multiplication the instrumented program calls: `MUL(l; r)` is `l * r`.
pub(super) const MUL: &str = "__runnel_mul";

/// [`MUL`] as a native filter: the cartesian product of its arguments' outputs, in jq's order
/// (`r`'s in the outer loop).
pub(super) fn mul() -> Fun<Data> {
    let native = Native::<Data>::new(|cv| natives::product(cv, natives::Order::Jq, multiply));
    (MUL, Box::new([Bind::Fun(()), Bind::Fun(())]), native)
}

/// The longest string a repetition may make, as jq 1.8 allows it (its length is a C `int`).
const MAX_REPEATED: usize = i32::MAX as usize;

/// `l * r`, with jq's rules for a repeated string (`s * n` or `n * s`): a negative or NaN `n`
/// gives `null`, a fraction rounds down (`"ab" * 1.5` is `"ab"`, `* 0` is `""`), a result past
/// jq's limit is its error; the budget is checked before the string is built.
fn multiply(l: Val, r: Val) -> Result<Val, Error<Val>> {
    if let Some(error) = natives::merge_too_deep(&l, &r) {
        return Err(error);
    }
    let Some((text, times)) = repetition(&l, &r) else { return l * r };
    if times.is_nan() || times < 0.0 {
        return Ok(Val::Null);
    }
    // `as` saturates: a huge count is past the limit whatever the string.
    let times = times as usize;
    match text.len().checked_mul(times) {
        Some(bytes) if bytes <= MAX_REPEATED => budget::reserve(bytes as u64),
        _ if text.is_empty() => {}
        _ => return Err(Error::str("Repeat string result too long")),
    }
    let repeated = text.repeat(times);
    Ok(match (&l, &r) {
        (Val::BStr(_), _) | (_, Val::BStr(_)) => Val::byte_str(repeated),
        _ => Val::utf8_str(repeated),
    })
}

/// When `l * r` repeats a string: the string's bytes and how many times, as a float.
fn repetition<'v>(l: &'v Val, r: &'v Val) -> Option<(&'v [u8], f64)> {
    match (l, r) {
        (Val::TStr(s) | Val::BStr(s), n @ Val::Num(_)) | (n @ Val::Num(_), Val::TStr(s) | Val::BStr(s)) => Some((&s[..], jaq_std::ValT::as_f64(n)?)),
        _ => None,
    }
}
