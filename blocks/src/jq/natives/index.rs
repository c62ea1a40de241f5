//! Positions as jq reads them: jaq refuses a fraction as an array position (`.[1.5]`) or a
//! slice bound (`.[1.2:3.5]`), jq rounds it (a position and a slice's start down, a slice's end
//! up) and reads NaN as no position at all. The instrumented program (module `instrument`)
//! passes every index and slice bound that is not a literal string or integer through
//! [`INDEX`], [`SLICE_START`] or [`SLICE_END`] first; strings and integers go through unchanged.

use jaq_core::box_iter::box_once;
use jaq_core::native::{Fun, v};
use jaq_core::{Native, ValT as _};
use jaq_json::{Num, Val};

use super::super::Data;

/// The name of the filter an index goes through.
pub(in crate::jq) const INDEX: &str = "__runnel_index";
/// The name of the filter a slice's start goes through.
pub(in crate::jq) const SLICE_START: &str = "__runnel_slice_start";
/// The name of the filter a slice's end goes through.
pub(in crate::jq) const SLICE_END: &str = "__runnel_slice_end";

/// The three filters.
pub(super) fn funs() -> [Fun<Data>; 3] {
    [
        (INDEX, v(0), Native::<Data>::new(|cv| box_once(Ok(position(cv.1, f64::floor, Val::from(isize::MAX)))))),
        (SLICE_START, v(0), Native::<Data>::new(|cv| box_once(Ok(position(cv.1, f64::floor, Val::Null))))),
        (SLICE_END, v(0), Native::<Data>::new(|cv| box_once(Ok(position(cv.1, f64::ceil, Val::Null))))),
    ]
}

/// `value` as a position: a number with a fraction rounded by `round` to an integer (when one
/// holds it), NaN as `nan`, anything else as it is. A NaN position reads nothing: as an index it
/// becomes one past any array's end (reading `null`), as a slice bound no bound.
fn position(value: Val, round: fn(f64) -> f64, nan: Val) -> Val {
    let Val::Num(n) = &value else { return value };
    if matches!(n, Num::Int(_) | Num::BigInt(_)) {
        return value;
    }
    let Some(f) = jaq_std::ValT::as_f64(&value) else { return value };
    if f.is_nan() {
        return nan;
    }
    let rounded = round(f);
    if rounded == f && !matches!(n, Num::Float(_)) {
        // A decimal literal such as `2.0`: jaq reads it as the integer it is.
        return Val::from_num(&format!("{rounded:.0}")).unwrap_or(value);
    }
    // The range `isize` holds exactly as a float.
    if rounded.abs() < 9.0e18 { Val::from(rounded as isize) } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_round_and_nan_reads_nothing() {
        let at = |f: f64, round: fn(f64) -> f64| position(Val::from(f), round, Val::Null).to_string();
        assert_eq!(at(1.7, f64::floor), "1");
        assert_eq!(at(-1.2, f64::floor), "-2");
        assert_eq!(at(3.5, f64::ceil), "4");
        assert_eq!(at(f64::NAN, f64::floor), "null");
        assert_eq!(at(1e300, f64::floor), "1e300");
        assert_eq!(position(Val::utf8_str(b"k".to_vec()), f64::floor, Val::Null).to_string(), "\"k\"");
    }
}
