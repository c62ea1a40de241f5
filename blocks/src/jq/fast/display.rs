//! Values written the way jaq writes them inside error messages (`jaq_json::write`): compact
//! JSON, floats with `ryu` (`1.0`, `1e20`), and control characters and DEL escaped.

use std::fmt::Write;

use serde_json::{Number, Value};

/// `value` as jaq displays it.
pub(super) fn jaq_text(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        // serde_json numbers are finite, which is what `format_finite` needs.
        out.push_str(ryu::Buffer::new().format_finite(n.as_f64().unwrap_or_default()));
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{0}'..='\u{1f}' | '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_like_jaq() {
        assert_eq!(jaq_text(&json!([1, 1.0, 1e20, -0.0, u64::MAX, null, true])), "[1,1.0,1e20,-0.0,18446744073709551615,null,true]");
        assert_eq!(jaq_text(&json!({"k": "a\u{7f}b\n\u{1}\"\\é"})), r#"{"k":"a\u007fb\n\u0001\"\\é"}"#);
    }
}
