//! Numbers that pass through exactly: the literals of an input that a 64-bit float does not
//! hold (big integers, long decimals, exponents out of a float's range) are found when it is
//! decoded, kept beside the message as [`ExactNumbers`], and written back by [`write_exact`].
//!
//! serde_json's `arbitrary_precision` would keep every number as its text instead, but it costs
//! an allocation per number: on the benchmark's chat events, parsing and writing took 19% longer
//! (843 against 707 ns). Here a message without floats costs nothing more: the reader
//! ([`crate::reader`]) notes whether it read a float, and only a message with floats is scanned
//! for literals.

use std::io;

use runnel_engine::ExactNumbers;
use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{CompactFormatter, Formatter};

/// The literals of the JSON `text` that its parsed value does not hold exactly, each with the
/// float that stands for it (the largest finite float for one out of range, as jq does).
pub(crate) fn inexact_literals(text: &str) -> Vec<(f64, Box<str>)> {
    literals(text).filter_map(|literal| inexact(literal).map(|float| (float, literal.into()))).collect()
}

/// `text` with every literal out of a float's range replaced by the largest finite float of its
/// sign, so that serde_json parses it; `None` when there is none.
pub(crate) fn clamped(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut last = 0;
    for literal in literals(text) {
        let float = parse(literal);
        if float.is_infinite() {
            let start = literal.as_ptr() as usize - text.as_ptr() as usize;
            out.push_str(&text[last..start]);
            out.push_str(if float < 0.0 { "-1.7976931348623157e308" } else { "1.7976931348623157e308" });
            last = start + literal.len();
        }
    }
    (last > 0).then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// Writes `value` as compact JSON, each float that stands for a literal of `exact` as that
/// literal.
pub(crate) fn write_exact(value: &Value, exact: &ExactNumbers, out: &mut Vec<u8>) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(out, Literals(exact)))
}

struct Literals<'a>(&'a ExactNumbers);

impl Formatter for Literals<'_> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        match self.0.literal(value) {
            Some(literal) => writer.write_all(literal.as_bytes()),
            None => CompactFormatter.write_f64(writer, value),
        }
    }
}

/// The number literals of the JSON `text`, outside strings.
fn literals(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            match bytes[at] {
                b'"' => {
                    at += 1;
                    while at < bytes.len() && bytes[at] != b'"' {
                        at += if bytes[at] == b'\\' { 2 } else { 1 };
                    }
                    at += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = at;
                    while at < bytes.len() && matches!(bytes[at], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                        at += 1;
                    }
                    return Some(&text[start..at]);
                }
                _ => at += 1,
            }
        }
        None
    })
}

/// The float a literal is held as, when that float's shortest text is another number.
fn inexact(literal: &str) -> Option<f64> {
    // Any decimal of at most 15 significant digits, well within a float's exponents, comes
    // back from the float's shortest text: most literals stop here.
    let (mantissa, exponent) = literal.split_once(['e', 'E']).unwrap_or((literal, ""));
    if mantissa.bytes().filter(u8::is_ascii_digit).count() <= 15 && exponent.trim_start_matches(['-', '+']).len() <= 2 {
        return None;
    }
    let integer = exponent.is_empty() && !mantissa.contains('.');
    if integer && (literal.parse::<i64>().is_ok() || literal.parse::<u64>().is_ok()) {
        return None;
    }
    let float = parse(literal);
    let float = if float.is_infinite() { f64::MAX.copysign(float) } else { float };
    let mut shortest = ryu::Buffer::new();
    (Decimal::of(literal) != Decimal::of(shortest.format_finite(float))).then_some(float)
}

fn parse(literal: &str) -> f64 {
    literal.parse().unwrap_or(f64::NAN)
}

/// A number literal's value as its significant digits and the power of ten after them; zero has
/// no digits (and no sign).
#[derive(Debug, PartialEq, Eq)]
struct Decimal<'a> {
    negative: bool,
    digits: Vec<&'a u8>,
    exponent: i64,
}

impl<'a> Decimal<'a> {
    fn of(literal: &'a str) -> Self {
        let (negative, rest) = literal.strip_prefix('-').map_or((false, literal), |rest| (true, rest));
        let (mantissa, exponent) = rest
            .split_once(['e', 'E'])
            .map_or((rest, 0), |(m, e)| (m, e.parse::<i64>().unwrap_or(if e.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 })));
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits: Vec<&u8> = whole.as_bytes().iter().chain(fraction.as_bytes()).collect();
        let exponent = exponent.saturating_sub(fraction.len() as i64);
        let first = digits.iter().position(|d| **d != b'0');
        let Some(first) = first else { return Self { negative: false, digits: Vec::new(), exponent: 0 } };
        let last = digits.iter().rposition(|d| **d != b'0').unwrap_or(first);
        let exponent = exponent.saturating_add((digits.len() - 1 - last) as i64);
        Self { negative, digits: digits[first..=last].to_vec(), exponent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_a_float_holds_are_not_kept() {
        for text in
            ["1", "-0", "0.0", "1.5", "0.1", "1e21", "12345678901234567", "-9223372036854775808", "18446744073709551615", "2.50", "1E2", "5e-324"]
        {
            assert_eq!(inexact_literals(text), [], "{text}");
        }
    }

    #[test]
    fn literals_a_float_changes_are_kept_with_their_float() {
        let found = inexact_literals(
            r#"{"big": 18446744073709551616, "s": "1e400 in a string", "long": [0.10000000000000000555111512312578270211815834045, 1e-400, -1e400]}"#,
        );
        let literals: Vec<&str> = found.iter().map(|(_, l)| &**l).collect();
        assert_eq!(literals, ["18446744073709551616", "0.10000000000000000555111512312578270211815834045", "1e-400", "-1e400"]);
        assert_eq!(found[0].0, 18446744073709551616.0);
        assert_eq!(found[2].0, 0.0);
        assert_eq!(found[3].0, -f64::MAX);
    }

    #[test]
    fn out_of_range_literals_are_clamped_for_the_parser() {
        assert_eq!(
            clamped(r#"{"a": 1e400, "b": "1e400", "c": -2E999}"#).as_deref(),
            Some(r#"{"a": 1.7976931348623157e308, "b": "1e400", "c": -1.7976931348623157e308}"#)
        );
        assert_eq!(clamped(r#"{"a": 1e300}"#), None);
    }

    #[test]
    fn written_back_as_they_came() {
        let text = r#"{"a":18446744073709551616,"b":[1e-400,1.5,123456789012345678901234567890],"c":1e400}"#;
        let value: Value = serde_json::from_str(&clamped(text).expect("out of range")).expect("parses");
        let exact = ExactNumbers::new(inexact_literals(text));
        let mut out = Vec::new();
        write_exact(&value, &exact, &mut out).expect("writes");
        assert_eq!(String::from_utf8(out).expect("utf-8"), text);
    }
}
