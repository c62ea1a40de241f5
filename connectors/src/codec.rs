//! One way in and one way out for JSON: sources turn the bytes they read into messages with
//! [`decode`], sinks turn messages into text with [`encode`] (or [`encode_text`] for frames).
//! How a message holds its value can change here, in one place (a lazily parsed message is
//! planned).
//!
//! Decoding validates the bytes as UTF-8 in one pass and parses them as text, which is faster
//! than letting the parser check every string it meets. Encoding uses sonic-rs, which writes a
//! `serde_json::Value` with SIMD string escaping: on the benchmark's chat events 150 ns per event
//! against serde_json's 210 ns. Its text is serde_json's, byte for byte: the same float
//! formatting (shortest round-trip, `1e+21` style exponents) and the same escapes; the tests
//! below compare the two on random floats and on every kind of escape.

use std::sync::Arc;

use runnel_engine::{ExactNumbers, Message, Metadata};
use serde_json::Value;

use crate::{numbers, reader};

/// Bytes that are not a JSON document, kept as a message for the errors port.
#[derive(Debug)]
pub(crate) struct Undecodable {
    /// The bytes as text, with the metadata they were read with. Bytes that are not UTF-8 come
    /// as `{"text": <with U+FFFD for each bad sequence>, "base64": <the bytes as they were>}`,
    /// so that the original can be recovered.
    pub(crate) message: Message,
    /// Why they are not JSON: `expected value at line 1 column 2`, `invalid UTF-8 at byte 7`.
    pub(crate) reason: String,
}

/// The message a source read as `bytes`, with `meta`.
///
/// # Errors
/// [`Undecodable`] when the bytes are not UTF-8 or not one JSON value.
pub(crate) fn decode(bytes: &[u8], mut meta: Metadata) -> Result<Message, Box<Undecodable>> {
    let parsed = match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, &mut meta),
        Err(error) => Err(format!("invalid UTF-8 at byte {}", error.valid_up_to() + 1)),
    };
    match parsed {
        Ok(value) => Ok(Message::with_meta(value, meta)),
        Err(reason) => {
            let text = String::from_utf8_lossy(bytes);
            let raw = match text {
                std::borrow::Cow::Borrowed(text) => Value::String(text.to_owned()),
                std::borrow::Cow::Owned(lossy) => {
                    use base64::Engine as _;
                    serde_json::json!({"text": lossy, "base64": base64::engine::general_purpose::STANDARD.encode(bytes)})
                }
            };
            Err(Box::new(Undecodable { message: Message::with_meta(raw, meta), reason }))
        }
    }
}

/// `text` parsed, with the number literals its value does not hold exactly noted in `meta`
/// (module [`crate::numbers`]): a literal beyond a float's range is held as the largest float.
fn parse(text: &str, meta: &mut Metadata) -> Result<Value, String> {
    let (value, exact) = parse_exact(text)?;
    meta.exact_numbers = exact;
    Ok(value)
}

/// `text` parsed, and the number literals its value does not hold exactly, if any.
pub(crate) fn parse_exact(text: &str) -> Result<(Value, Option<Arc<ExactNumbers>>), String> {
    let (value, exact) = match reader::read(text) {
        Ok((value, false)) => return Ok((value, None)),
        Ok((value, true)) => (value, numbers::inexact_literals(text)),
        Err(error) => {
            let clamped = numbers::clamped(text).ok_or_else(|| error.to_string())?;
            (reader::read(&clamped).map_err(|_| error.to_string())?.0, numbers::inexact_literals(text))
        }
    };
    Ok((value, (!exact.is_empty()).then(|| Arc::new(ExactNumbers::new(exact)))))
}

/// Appends `message`'s value as compact JSON to `out`, with its exact number literals.
///
/// # Errors
/// When the value cannot be written (not for values parsed from JSON).
pub(crate) fn encode(message: &Message, out: &mut Vec<u8>) -> Result<(), sonic_rs::Error> {
    match &message.meta().exact_numbers {
        None => write(message.value(), out),
        Some(exact) => numbers::write_exact(message.value(), exact, out).map_err(<sonic_rs::Error as serde::ser::Error>::custom),
    }
}

/// `message`'s value as compact JSON text, for sinks that send text frames.
#[cfg(any(feature = "websocket", test))]
pub(crate) fn encode_text(message: &Message) -> String {
    if let Some(exact) = &message.meta().exact_numbers {
        let mut out = Vec::with_capacity(128);
        if numbers::write_exact(message.value(), exact, &mut out).is_ok() {
            return String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        }
    }
    to_string(message.value())
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), sonic_rs::Error> {
    sonic_rs::to_writer(out, value)
}

#[cfg(any(feature = "websocket", test))]
fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    match write(value, &mut out).map(|()| String::from_utf8(out)) {
        Ok(Ok(text)) => text,
        // Neither can happen for a `Value`; serde_json's own text is the fallback.
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn same_as_serde_json(value: &Value) {
        assert_eq!(to_string(value), serde_json::to_string(value).expect("serializes"), "{value:?}");
    }

    #[test]
    fn bytes_decode_into_a_message_or_say_why_not() {
        let message = decode(br#"{"a": [1, "x"]}"#, Metadata::default()).expect("JSON");
        assert_eq!(message.value(), &json!({"a": [1, "x"]}));
        let error = decode(b"{\"a\": 1", Metadata::default()).expect_err("unfinished");
        assert!(error.reason.contains("EOF"), "{}", error.reason);
        assert_eq!(error.message.value(), &json!("{\"a\": 1"));
        let error = decode(b"\"ab\xffc\"", Metadata::default()).expect_err("not UTF-8");
        assert_eq!(error.reason, "invalid UTF-8 at byte 4");
        assert_eq!(error.message.value(), &json!({"text": "\"ab\u{fffd}c\"", "base64": "ImFi/2Mi"}), "the bytes can be recovered");
        assert_eq!(encode_text(&decode(b"[1.5, \"\\n\"]", Metadata::default()).expect("JSON")), "[1.5,\"\\n\"]");
    }

    #[test]
    fn numbers_pass_through_as_they_came() {
        let text = br#"{"big":18446744073709551616,"digits":123456789012345678901234567890,"tiny":1e-400,"huge":-1e400,"long":0.1000000000000000055511151231257827,"plain":1.5,"int":7}"#;
        let message = decode(text, Metadata::default()).expect("JSON, 1e400 included");
        assert_eq!(message.value()["huge"], json!(-f64::MAX));
        let mut out = Vec::new();
        encode(&message, &mut out).expect("writes");
        let alone: Value = serde_json::from_slice(text).map_or(Value::Null, |v| v);
        assert_eq!(alone, Value::Null, "serde_json alone rejects 1e400");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"big":18446744073709551616,"digits":123456789012345678901234567890,"tiny":1e-400,"huge":-1e400,"long":0.1000000000000000055511151231257827,"plain":1.5,"int":7}"#
        );
        assert_eq!(
            encode_text(&decode(b"[100000000000000000000000000001, 2]", Metadata::default()).expect("JSON")),
            "[100000000000000000000000000001,2]"
        );
        assert!(decode(br#"{"a": 1.5, "b": [2, 3]}"#, Metadata::default()).expect("JSON").meta().exact_numbers.is_none());
    }

    #[test]
    fn floats_are_written_as_serde_json_writes_them() {
        for f in [0.0, -0.0, 0.1, 1.0, 100.0, 1e15, 1e16, 1e17, 1e20, 1e21, 1e-6, 1e-7, 5e-324, f64::MAX, f64::MIN_POSITIVE] {
            same_as_serde_json(&json!(f));
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let f = f64::from_bits(state);
            if f.is_finite() {
                same_as_serde_json(&json!(f));
            }
            same_as_serde_json(&json!((state % 1_000_000_007) as f64 / 10f64.powi((state % 31) as i32 - 10)));
            same_as_serde_json(&json!(state as i64));
            same_as_serde_json(&json!(state));
        }
    }

    #[test]
    fn floats_read_back_as_the_floats_written() {
        // Without serde_json's `float_roundtrip`, 8.542089968222869e-150 read back one bit off.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let float = f64::from_bits(state);
            if float.is_finite() {
                let text = encode_text(&Message::new(json!(float)));
                assert_eq!(decode(text.as_bytes(), Metadata::default()).expect("JSON").value(), &json!(float), "{text}");
            }
        }
        let text = "8.542089968222869e-150";
        assert_eq!(encode_text(&decode(text.as_bytes(), Metadata::default()).expect("JSON")), text);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in ["\u{0}\u{1}\u{1f}\u{7f}\"\\/\n\r\t\u{8}\u{c}", "é€𝄞", "\u{2028}\u{2029}", "</script>", "\u{feff}", ""] {
            same_as_serde_json(&json!(text));
            same_as_serde_json(&json!({ text: [text, 1.5, null, true, { "": text }] }));
        }
    }
}
