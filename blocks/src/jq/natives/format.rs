//! jq's formats that jaq lacks (`@csv`, `@tsv`, `@base32`, `@base32d`) and jq's `tonumber`,
//! as natives over jaq's values.

use jaq_core::Error;
use jaq_json::Val;

/// `value` in format `name` (`csv`, `tsv`, `base32` or `base32d`).
///
/// # Errors
/// jq's errors: a row that is not an array, a cell that is an array or an object, text that
/// is not base32.
pub(super) fn format(value: &Val, name: &str) -> Result<Val, Error<Val>> {
    match name {
        "csv" | "tsv" => row(value, name),
        "base32" => Ok(text(data_encoding::BASE32.encode(as_text(value).as_bytes()))),
        _ => {
            let input = as_text(value);
            // jq accepts base32 with its padding left out.
            let mut padded = input.trim_end_matches('=').as_bytes().to_vec();
            padded.resize(padded.len().div_ceil(8) * 8, b'=');
            match data_encoding::BASE32.decode(&padded) {
                Ok(bytes) => Ok(text(String::from_utf8_lossy(bytes.as_slice()).into_owned())),
                Err(_) => Err(Error::str(format!("{} ({}) is not valid base32 data", type_name(value), value))),
            }
        }
    }
}

fn row(value: &Val, name: &str) -> Result<Val, Error<Val>> {
    let Val::Arr(cells) = value else {
        return Err(Error::str(format!("{} ({value}) cannot be {name}-formatted, only an array can be", type_name(value))));
    };
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(if name == "csv" { ',' } else { '\t' });
        }
        match cell {
            Val::Null => {}
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Num(_) => out.push_str(&cell.to_string()),
            Val::TStr(_) | Val::BStr(_) if name == "csv" => {
                out.push('"');
                out.push_str(&as_text(cell).replace('"', "\"\""));
                out.push('"');
            }
            Val::TStr(_) | Val::BStr(_) => {
                for c in as_text(cell).chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
            Val::Arr(_) | Val::Obj(_) => {
                return Err(Error::str(format!("{} ({cell}) is not valid in a csv row", type_name(cell))));
            }
        }
    }
    Ok(text(out))
}

/// A string as its text; anything else as its JSON, as `tostring` makes it.
fn as_text(value: &Val) -> String {
    match value {
        Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => other.to_string(),
    }
}

fn text(s: String) -> Val {
    Val::utf8_str(s.into_bytes())
}

/// jq's name of `value`'s type, as its error messages write it.
pub(super) fn type_name(value: &Val) -> &'static str {
    match value {
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        Val::Num(_) => "number",
        Val::TStr(_) | Val::BStr(_) => "string",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
    }
}

/// jq's `tonumber`: a number as it is, a string holding exactly a number literal (an optional
/// sign, digits with an optional fraction, an optional exponent; no spaces) as that number.
///
/// # Errors
/// jq's error for anything else.
pub(super) fn tonumber(value: &Val) -> Result<Val, Error<Val>> {
    let fail = || Error::str(format!("{} ({value}) cannot be parsed as a number", type_name(value)));
    let text = match value {
        Val::Num(_) => return Ok(value.clone()),
        Val::TStr(bytes) | Val::BStr(bytes) => std::str::from_utf8(bytes).map_err(|_| fail())?,
        _ => return Err(fail()),
    };
    if !is_number_literal(text) {
        return Err(fail());
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Ok(i) = unsigned.parse::<isize>() {
        return Ok(Val::from(i));
    }
    unsigned.parse::<f64>().map(Val::from).map_err(|_| fail())
}

/// How deeply the JSON `text` nests arrays and objects (brackets inside strings do not count).
pub(super) fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0_usize, 0, false, false);
    for &b in text {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn is_number_literal(text: &str) -> bool {
    let bytes = text.strip_prefix(['+', '-']).unwrap_or(text).as_bytes();
    let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let whole = digits(0);
    let mut i = whole;
    let mut fraction = 0;
    if bytes.get(i) == Some(&b'.') {
        fraction = digits(i + 1);
        i += 1 + fraction;
    }
    if whole + fraction == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exponent = digits(i);
        if exponent == 0 {
            return false;
        }
        i += exponent;
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> Val {
        text(t.to_owned())
    }

    #[test]
    fn number_literals_are_read_strictly() {
        for (input, expected) in [("12", "12"), ("-3.5", "-3.5"), ("+2", "2"), (".25", "0.25"), ("1e3", "1000.0"), ("7.", "7.0")] {
            assert_eq!(tonumber(&s(input)).map(|v| v.to_string()).ok(), Some(expected.to_owned()), "{input}");
        }
        for input in ["", " 1", "1 ", "1a", "0x10", "1e", ".", "-", "nan", "1\u{0}2"] {
            assert!(tonumber(&s(input)).is_err(), "{input:?}");
        }
    }

    #[test]
    fn rows_quote_and_escape_their_strings() {
        let cells: Val = [Val::from(2_isize), s("a\"b"), Val::Null, Val::Bool(false), s("t\tn\n")].into_iter().collect();
        assert_eq!(format(&cells, "csv").unwrap().to_string(), r#""2,\"a\"\"b\",,false,\"t\tn\n\"""#);
        assert_eq!(format(&cells, "tsv").unwrap().to_string(), r#""2\ta\"b\t\tfalse\tt\\tn\\n""#);
        assert!(format(&s("x"), "csv").is_err());
    }

    #[test]
    fn nesting_skips_brackets_in_strings() {
        assert_eq!(nesting(br#"[{"a": "[[[\"]]"}, [1]]"#), 2);
        assert_eq!(nesting(b"1"), 0);
    }

    #[test]
    fn base32_round_trips_with_or_without_padding() {
        assert_eq!(format(&s("hello"), "base32").unwrap().to_string(), "\"NBSWY3DP\"");
        assert_eq!(format(&s("hi"), "base32").unwrap().to_string(), "\"NBUQ====\"");
        assert_eq!(format(&s("NBUQ"), "base32d").unwrap().to_string(), "\"hi\"");
        assert!(format(&s("1!"), "base32d").is_err());
    }
}
