//! jq 1.8's errors for values too deep to compare, merge or check for containment.
//!
//! jq walks two values together by recursion to compare them (`==`, `sort`, `unique`), to
//! merge objects (`*`) and to check containment (`contains`), and since 1.8 it refuses to go
//! past [`MAX_VALUE_DEPTH`] levels with an error a program can catch ("Comparison too deep").
//! jaq recurses without a limit. These checks go first and raise jq's error when both values
//! walked together nest deeper than the limit, looking down their first and last elements as
//! the budget does (module `budget`): that is where loops build deep values, and it costs what
//! the values are deep, not what they hold.

use jaq_core::box_iter::box_once;
use jaq_core::native::{Fun, v};
use jaq_core::{Bind, Error, Exn, Native};
use jaq_json::Val;

use super::super::Data;
use super::super::budget::{MAX_VALUE_DEPTH, deeper_than};
use super::arith::Order;

/// The name of the check `sort` and `unique` make first: their input, or jq's error when two of
/// its elements nest too deep to be compared.
pub(in crate::jq) const COMPARABLE: &str = "__runnel_comparable";
/// The name of the check `contains($b)` makes first: its input, or jq's error when it and `$b`
/// nest too deep.
pub(in crate::jq) const CONTAINABLE: &str = "__runnel_containable";
/// The name of `==` on two values that are not literals (module `instrument`).
pub(in crate::jq) const EQUAL: &str = "__runnel_equal";
/// The name of `!=` on two values that are not literals.
pub(in crate::jq) const NOT_EQUAL: &str = "__runnel_not_equal";

/// The natives of this module.
pub(super) fn funs() -> [Fun<Data>; 4] {
    let comparable = Native::<Data>::new(|cv| box_once(comparable(cv.1).map_err(Exn::from)));
    let containable = Native::<Data>::new(|mut cv| {
        let other = cv.0.pop_var();
        box_once(both_shallow(cv.1, &other, "Containment check too deep").map_err(Exn::from))
    });
    let args = || -> Box<[Bind]> { Box::new([Bind::Fun(()), Bind::Fun(())]) };
    [
        (COMPARABLE, v(0), comparable),
        (CONTAINABLE, v(1), containable),
        (EQUAL, args(), Native::<Data>::new(|cv| super::arith::product(cv, Order::Jaq, |l, r| equal(&l, &r).map(Val::from)))),
        (NOT_EQUAL, args(), Native::<Data>::new(|cv| super::arith::product(cv, Order::Jaq, |l, r| equal(&l, &r).map(|same| Val::from(!same))))),
    ]
}

/// Whether `value` nests deeper than jq walks.
pub(in crate::jq) fn too_deep(value: &Val) -> bool {
    deeper_than(value, MAX_VALUE_DEPTH)
}

/// `value`, or `message` as an error when `other` nests too deep as well.
fn both_shallow(value: Val, other: &Val, message: &'static str) -> Result<Val, Error<Val>> {
    if too_deep(&value) && too_deep(other) { Err(Error::str(message)) } else { Ok(value) }
}

/// `value`, or jq's error when it is an array holding two elements that nest too deep.
fn comparable(value: Val) -> Result<Val, Error<Val>> {
    if let Val::Arr(items) = &value {
        if items.iter().filter(|item| too_deep(item)).nth(1).is_some() {
            return Err(Error::str("Comparison too deep"));
        }
    }
    Ok(value)
}

/// `l == r`, or jq's error when both nest too deep.
fn equal(l: &Val, r: &Val) -> Result<bool, Error<Val>> {
    if too_deep(l) && too_deep(r) {
        return Err(Error::str("Equality check too deep"));
    }
    Ok(l == r)
}

/// jq's error for merging two objects (`l * r`) that nest too deep, if they do.
pub(in crate::jq) fn merge_too_deep(l: &Val, r: &Val) -> Option<Error<Val>> {
    (matches!((l, r), (Val::Obj(_), Val::Obj(_))) && too_deep(l) && too_deep(r)).then(|| Error::str("Object merge too deep"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[[...[]...]]`, `levels` arrays around the innermost.
    fn nested(levels: usize) -> Val {
        (0..levels).fold(Val::Arr(Default::default()), |inner, _| [inner].into_iter().collect())
    }

    #[test]
    fn values_as_deep_as_jq_walks_compare_and_deeper_ones_fail() {
        let (deep, deeper) = (nested(MAX_VALUE_DEPTH), nested(MAX_VALUE_DEPTH + 1));
        assert_eq!(equal(&deep, &deep.clone()).ok(), Some(true));
        assert_eq!(equal(&deeper, &Val::Null).ok(), Some(false), "one shallow side stops the walk");
        assert!(equal(&deeper, &deeper.clone()).is_err());
        let pair = |v: &Val| [v.clone(), v.clone()].into_iter().collect::<Val>();
        assert!(comparable(pair(&deep)).is_ok());
        assert!(comparable([deeper.clone(), Val::Null].into_iter().collect()).is_ok());
        assert!(comparable(pair(&deeper)).is_err());
        assert!(both_shallow(deeper.clone(), &nested(1), "x").is_ok());
        assert!(both_shallow(deeper.clone(), &deeper, "x").is_err());
        assert!(merge_too_deep(&deeper, &deeper).is_none(), "arrays are not merged");
    }
}
