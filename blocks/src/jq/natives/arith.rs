//! Division and remainder as jq computes them, where jaq differs: jq refuses a zero divisor
//! (jaq divides into an infinity or NaN), and jq's `%` works on the integers its operands
//! truncate to (`5.5 % 2` is 1, `infinite % 1` is 0), where jaq takes a float remainder. The
//! instrumented program (module `instrument`) calls [`DIV`] and [`REM`] for `/` and `%`.

use jaq_core::native::Fun;
use jaq_core::{Bind, Cv, Error, Exn, Native, ValXs};
use jaq_json::{Num, Val};

use super::super::Data;

/// The name of the division the instrumented program calls: `DIV(l; r)` is `l / r`.
pub(in crate::jq) const DIV: &str = "__runnel_div";
/// The name of the remainder the instrumented program calls: `REM(l; r)` is `l % r`.
pub(in crate::jq) const REM: &str = "__runnel_rem";

/// [`DIV`] and [`REM`] as natives: the cartesian product of their arguments' outputs, in jq's
/// order (`r`'s in the outer loop).
pub(super) fn funs() -> [Fun<Data>; 2] {
    let args = || -> Box<[Bind]> { Box::new([Bind::Fun(()), Bind::Fun(())]) };
    [
        (DIV, args(), Native::<Data>::new(|cv| product(cv, Order::Jq, divide))),
        (REM, args(), Native::<Data>::new(|cv| product(cv, Order::Jq, remainder_of))),
    ]
}

/// Which argument of a binary operator varies slowest when both have several outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::jq) enum Order {
    /// The right one, as in jq: `[(1,2) - (10,20)]` is `[-9,-8,-19,-18]`.
    Jq,
    /// The left one, as jaq's operators vary them: `[-9,-19,-8,-18]`.
    Jaq,
}

/// `op` on every pair of outputs of the two arguments `l` and `r` (popped from `cv`), in
/// `order`; an error is paired with every output of the other argument, as jaq pairs them.
pub(in crate::jq) fn product<'a>(mut cv: Cv<'a, Data>, order: Order, op: fn(Val, Val) -> Result<Val, Error<Val>>) -> ValXs<'a, Val> {
    let (r, r_ctx) = cv.0.pop_fun();
    let (l, l_ctx) = cv.0.pop_fun();
    let input = cv.1;
    match order {
        Order::Jaq => Box::new(
            l.run((l_ctx, input.clone()))
                .flat_map(move |x| r.run((r_ctx.clone(), input.clone())).map(move |y| op(x.clone()?, y?).map_err(Exn::from))),
        ),
        Order::Jq => Box::new(
            r.run((r_ctx, input.clone()))
                .flat_map(move |y| l.run((l_ctx.clone(), input.clone())).map(move |x| op(x?, y.clone()?).map_err(Exn::from))),
        ),
    }
}

/// jq's message for a zero divisor; `remainder` adds " (remainder)" after "divided".
pub(in crate::jq) fn zero_divisor(l: &str, r: &str, remainder: bool) -> String {
    let kind = if remainder { " (remainder)" } else { "" };
    format!("number ({l}) and number ({r}) cannot be divided{kind} because the divisor is zero")
}

fn divide(l: Val, r: Val) -> Result<Val, Error<Val>> {
    if let (Val::Num(_), Val::Num(n)) = (&l, &r) {
        if jaq_std::ValT::as_f64(&Val::Num(n.clone())) == Some(0.0) {
            return Err(Error::str(zero_divisor(&l.to_string(), &r.to_string(), false)));
        }
    }
    l / r
}

fn remainder_of(l: Val, r: Val) -> Result<Val, Error<Val>> {
    let (Val::Num(x), Val::Num(y)) = (&l, &r) else { return l % r };
    let operand = |n: &Num| match n {
        Num::Int(i) => Operand::Int(*i as i64),
        other => Operand::Float(jaq_std::ValT::as_f64(&Val::Num(other.clone())).unwrap_or(f64::NAN)),
    };
    match remainder(operand(x), operand(y)) {
        Ok(Some(i)) => Ok(Val::from(i as isize)),
        Ok(None) => Ok(Val::from(f64::NAN)),
        Err(()) => Err(Error::str(zero_divisor(&l.to_string(), &r.to_string(), true))),
    }
}

/// An operand of `%`: an integer as it is, anything else as a float.
#[derive(Debug, Clone, Copy)]
pub(in crate::jq) enum Operand {
    /// An integer that fits 64 bits.
    Int(i64),
    /// Any other number.
    Float(f64),
}

/// `x % y` as jq computes it: both truncated to integers (saturating at the ends of `i64`),
/// the remainder's sign that of `x`. `Ok(None)` when either is NaN; `Err` for a divisor that
/// truncates to zero.
pub(in crate::jq) fn remainder(x: Operand, y: Operand) -> Result<Option<i64>, ()> {
    let int = |o: Operand| match o {
        Operand::Int(i) => Some(i),
        Operand::Float(f) if f.is_nan() => None,
        // `as` saturates, as jq's conversion does.
        Operand::Float(f) => Some(f.trunc() as i64),
    };
    let (Some(x), Some(y)) = (int(x), int(y)) else { return Ok(None) };
    if y == 0 {
        return Err(());
    }
    // Only `i64::MIN % -1` overflows; its remainder is 0.
    Ok(Some(x.checked_rem(y).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remainders_truncate_their_operands() {
        use Operand::{Float, Int};
        assert_eq!(remainder(Float(5.5), Int(2)), Ok(Some(1)));
        assert_eq!(remainder(Int(-7), Float(2.9)), Ok(Some(-1)));
        assert_eq!(remainder(Float(f64::INFINITY), Int(-1)), Ok(Some(0)));
        assert_eq!(remainder(Float(f64::NEG_INFINITY), Float(f64::INFINITY)), Ok(Some(-1)));
        assert_eq!(remainder(Float(f64::NAN), Int(3)), Ok(None));
        assert_eq!(remainder(Int(1), Float(0.5)), Err(()));
    }
}
