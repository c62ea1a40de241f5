//! Values as jq writes them in text (`tojson`, `tostring`, string interpolation): jaq writes a
//! float that holds an integer with a fraction (`10 / 2` is `5.0`) and infinities as
//! `Infinity`; jq writes `5` and the largest finite float, as JSON. Everything else is written as
//! jaq writes it.

use jaq_json::{Num, Val};

use super::super::budget::MAX_VALUE_DEPTH;

/// The name of jq's `tojson`, as a native.
pub(in crate::jq) const TOJSON: &str = "__runnel_tojson";
/// The name of jq's `tostring` (and of what string interpolation writes), as a native.
pub(in crate::jq) const TOSTRING: &str = "__runnel_tostring";

/// `value` as jq's `tostring`: a string as it is, anything else as its JSON.
pub(super) fn tostring(value: Val) -> Val {
    match value {
        Val::TStr(_) => value,
        Val::BStr(bytes) => Val::TStr(bytes),
        other => Val::utf8_str(tojson(&other).into_bytes()),
    }
}

/// `value` as jq's `tojson`.
pub(super) fn tojson(value: &Val) -> String {
    let mut out = String::new();
    write(value, &mut out, 0);
    out
}

/// What jq writes instead of an array or object nested deeper than it prints.
const SKIPPED: &str = "<skipped: too deep>";

/// Writes `value`, found `depth` arrays and objects deep, as jq's `tojson` does.
fn write(value: &Val, out: &mut String, depth: usize) {
    let depth = depth + 1;
    match value {
        Val::Num(Num::Float(f)) => out.push_str(&float(*f)),
        Val::Arr(_) | Val::Obj(_) if depth > MAX_VALUE_DEPTH + 1 => out.push_str(SKIPPED),
        Val::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out, depth);
            }
            out.push(']');
        }
        Val::Obj(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match key {
                    Val::TStr(_) | Val::BStr(_) => write(key, out, depth),
                    // A key that is not a string (`{(1): 2}`, which jq does not have) is written
                    // as the string of its JSON.
                    other => write(&Val::utf8_str(tojson(other).into_bytes()), out, depth),
                }
                out.push(':');
                write(item, out, depth);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A float as jq writes it: NaN as `null`, infinities as the largest finite float of their
/// sign, an integer below 10^17 without a fraction, anything else as jaq writes it.
fn float(f: f64) -> String {
    if f.is_nan() {
        "null".into()
    } else if f.is_infinite() {
        if f > 0.0 { "1.7976931348623157e+308".into() } else { "-1.7976931348623157e+308".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e17 {
        // `-0.0` is written `-0`, as jq does.
        if f == 0.0 && f.is_sign_negative() { "-0".into() } else { format!("{}", f as i64) }
    } else {
        Val::from(f).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_and_infinities_are_written_as_jq_writes_them() {
        let value: Val = [Val::from(5.0), Val::from(0.5), Val::from(f64::INFINITY), Val::from(f64::NAN), Val::from(-3.0)].into_iter().collect();
        assert_eq!(tojson(&value), "[5,0.5,1.7976931348623157e+308,null,-3]");
        assert_eq!(tostring(Val::utf8_str(b"a".to_vec())).to_string(), "\"a\"");
        assert_eq!(tostring(Val::from(2.0)).to_string(), "\"2\"");
    }
}
