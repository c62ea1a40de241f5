//! jq's wording for the errors a program catches: programs written for jq match on the message
//! that `catch` gives (`try .a[] catch "Cannot iterate"...`), and jaq words its errors its own
//! way. The instrumented program (module `instrument`) runs the body of every `try f catch g`
//! through [`JQ_ERRORS`], which rewords jaq's type errors as jq 1.8 words them; other errors, and
//! errors no `catch` sees, keep their text.

use jaq_core::native::Fun;
use jaq_core::{Bind, Error, Exn, Native};
use jaq_json::Val;
use serde_json::Value;

use super::super::Data;

/// The name of the filter a `try` body runs through.
pub(in crate::jq) const JQ_ERRORS: &str = "__runnel_jq_errors";

/// [`JQ_ERRORS`] as a native: the outputs of its argument, as a value and as a path, with
/// errors reworded.
pub(super) fn jq_errors() -> Fun<Data> {
    let native = Native::<Data>::new(|mut cv| {
        let (f, ctx) = cv.0.pop_fun();
        Box::new(f.run((ctx, cv.1)).map(|output| output.map_err(reworded)))
    })
    .with_paths(|mut cv| {
        let (f, ctx) = cv.0.pop_fun();
        Box::new(f.paths((ctx, cv.1)).map(|output| output.map_err(reworded)))
    });
    (JQ_ERRORS, Box::new([Bind::Fun(())]), native)
}

fn reworded(exn: Exn<'_, Val>) -> Exn<'_, Val> {
    match exn.get_err() {
        Ok(error) => {
            let message = error.to_string();
            match jq_wording(&message) {
                Some(jq) => Exn::from(Error::str(jq)),
                None => Exn::from(error),
            }
        }
        Err(other) => other,
    }
}

/// jaq's error `message` in jq 1.8's words, when it is one jq words otherwise.
pub(super) fn jq_wording(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("cannot use ") {
        if let Some(value) = rest.strip_suffix(" as iterable (array or object)") {
            return Some(format!("Cannot iterate over {}", described(value)?));
        }
        if let Some(value) = rest.strip_suffix(" as number") {
            return Some(format!("{} cannot be negated", described(value)?));
        }
        return None;
    }
    if let Some(rest) = message.strip_prefix("cannot index ") {
        let (value, index) = split_value(rest, " with ")?;
        return Some(format!("Cannot index {} with {}", type_of(value)?, described(index)?));
    }
    if let Some(rest) = message.strip_prefix("cannot calculate ") {
        let (l, rest) = split_value(rest, " ")?;
        let (op, r) = rest.split_once(' ')?;
        let verb = match op {
            "+" => "added",
            "-" => "subtracted",
            "*" => "multiplied",
            "/" => "divided",
            "%" => "divided (remainder)",
            _ => return None,
        };
        return Some(format!("{} and {} cannot be {verb}", described(l)?, described(r)?));
    }
    let value = message.strip_prefix("invalid path expression with input ")?;
    Some(format!("Invalid path expression with result {}", truncated(value)))
}

/// `text`, the JSON of a value followed by `separator` and more: the value's text and the rest.
fn split_value<'t>(text: &'t str, separator: &str) -> Option<(&'t str, &'t str)> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    values.next()?.ok()?;
    let end = values.byte_offset();
    Some((&text[..end], text[end..].strip_prefix(separator)?))
}

/// `type (value)`, as jq describes a value in its errors.
fn described(json: &str) -> Option<String> {
    Some(format!("{} ({})", type_of(json)?, truncated(json)))
}

fn type_of(json: &str) -> Option<&'static str> {
    Some(match serde_json::from_str::<Value>(json).ok()? {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    })
}

/// `json` cut as jq cuts values in its errors: a string's text past 26 bytes to its first 24
/// (whole characters) and `...` inside the quotes; another value's text past 28 bytes to its
/// first 25 and `...`.
fn truncated(json: &str) -> String {
    let cut = |text: &str, limit: usize, keep: usize| {
        if text.len() <= limit {
            return text.to_owned();
        }
        let mut end = keep;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    };
    match json.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')) {
        Some(text) => format!("\"{}\"", cut(text, 26, 24)),
        None => cut(json, 28, 25),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_read_as_in_jq() {
        let cases = [
            ("cannot use 12 as iterable (array or object)", "Cannot iterate over number (12)"),
            (r#"cannot index {"a":1} with "b c""#, r#"Cannot index object with string ("b c")"#),
            (r#"cannot use "abc" as number"#, r#"string ("abc") cannot be negated"#),
            (r#"cannot calculate "a b" - {"x":[1]}"#, r#"string ("a b") and object ({"x":[1]}) cannot be subtracted"#),
            (
                r#"cannot calculate "a text that is well past the limit" + 1"#,
                r#"string ("a text that is well past...") and number (1) cannot be added"#,
            ),
            ("invalid path expression with input [1]", "Invalid path expression with result [1]"),
        ];
        for (jaq, jq) in cases {
            assert_eq!(jq_wording(jaq).as_deref(), Some(jq), "{jaq}");
        }
        assert_eq!(jq_wording("boom"), None);
    }
}
