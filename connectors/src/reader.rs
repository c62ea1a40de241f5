//! JSON text read into a `serde_json::Value`, the way every source reads it ([`crate::codec`]).
//!
//! serde_json's own `Value` reader grows each object's map one key at a time. With objects
//! kept in arrival order (serde_json's `preserve_order`, an `IndexMap`), every growth is a new
//! allocation and a rehash of the keys read so far. This reader gathers an object's pairs on
//! one stack of pairs that it reuses for every object of every message read on the thread,
//! then builds the map once, at its final size plus room for one key. It also notes whether
//! the text held a float, which [`crate::codec`] would otherwise find by walking the value
//! again.
//!
//! Everything else is serde_json's: the same tokenizer, the same errors with their line and
//! column, the same depth limit, a later duplicate key replacing an earlier one's value.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON document read from `text`, and whether it holds a number read as a float.
///
/// # Errors
/// serde_json's error when `text` is not one JSON document.
pub(crate) fn read(text: &str) -> Result<(Value, bool), serde_json::Error> {
    thread_local! {
        static PAIRS: RefCell<Vec<(String, Value)>> = const { RefCell::new(Vec::new()) };
    }
    PAIRS.with(|pairs| {
        // A reader on this thread is never interrupted by another, but stay correct if one
        // ever is: a second reader gets a stack of its own.
        let mut own = Vec::new();
        let mut borrowed = pairs.try_borrow_mut();
        let pairs = borrowed.as_deref_mut().unwrap_or(&mut own);
        let mut floats = false;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = Read { pairs: &mut *pairs, floats: &mut floats }.deserialize(&mut deserializer);
        // An error leaves the pairs of the objects it interrupted on the stack.
        pairs.clear();
        let value = value?;
        deserializer.end()?;
        Ok((value, floats))
    })
}

/// Reads one value, pushing object pairs on `pairs` and setting `floats` on a float.
struct Read<'a> {
    pairs: &'a mut Vec<(String, Value)>,
    floats: &'a mut bool,
}

impl Read<'_> {
    fn nested(&mut self) -> Read<'_> {
        Read { pairs: self.pairs, floats: self.floats }
    }
}

impl<'de> DeserializeSeed<'de> for Read<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Read<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        *self.floats = true;
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> Result<Value, A::Error> {
        let mut array = Vec::with_capacity(items.size_hint().unwrap_or(0));
        while let Some(item) = items.next_element_seed(self.nested())? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut fields: A) -> Result<Value, A::Error> {
        let start = self.pairs.len();
        while let Some(key) = fields.next_key::<String>()? {
            let value = fields.next_value_seed(self.nested())?;
            self.pairs.push((key, value));
        }
        let count = self.pairs.len() - start;
        // Room for one key more: a transform that adds a field (the commonest change) then
        // writes it in place rather than growing the map.
        let mut map = Map::with_capacity(if count == 0 { 0 } else { count + 1 });
        // One insert per pair: `extend` reserves again and went through a generic fold, 3% of
        // this reader's instructions (callgrind, the throughput bench's `pass`).
        for (key, value) in self.pairs.drain(start..) {
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &Value) -> Vec<&str> {
        value.as_object().map(|map| map.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    #[test]
    fn objects_keep_their_keys_in_arrival_order_at_every_depth() {
        let (value, floats) = read(r#"{"z": 1, "a": {"y": [{"k": 1, "b": 2}], "c": 3}, "m": null}"#).expect("JSON");
        assert!(!floats);
        assert_eq!(keys(&value), ["z", "a", "m"]);
        assert_eq!(keys(&value["a"]), ["y", "c"]);
        assert_eq!(keys(&value["a"]["y"][0]), ["k", "b"]);
        assert_eq!(value.to_string(), r#"{"z":1,"a":{"y":[{"k":1,"b":2}],"c":3},"m":null}"#);
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let (value, _) = read(r#"{"a": 1, "b": 2, "a": 3}"#).expect("JSON");
        assert_eq!(value.to_string(), r#"{"a":3,"b":2}"#, "as jq reads it");
    }

    #[test]
    fn floats_are_noted_wherever_they_are() {
        assert!(!read(r#"[1, -2, 18446744073709551615, "1.5"]"#).expect("JSON").1);
        assert!(read(r#"[1, {"a": [2.5]}]"#).expect("JSON").1);
        assert!(read("18446744073709551616").expect("JSON").1, "beyond u64, read as a float");
        assert!(read("1e2").expect("JSON").1);
    }

    #[test]
    fn errors_are_serde_json_s_and_leave_the_reader_clean() {
        for (text, reason) in [
            (r#"{"a": {"b": [1, {"c": "#, "EOF while parsing a value at line 1 column 22"),
            ("{\"a\": 1} x", "trailing characters at line 1 column 10"),
            ("", "EOF while parsing a value at line 1 column 0"),
            ("{\"a\" 1}", "expected `:` at line 1 column 6"),
        ] {
            assert_eq!(read(text).expect_err(text).to_string(), reason);
            assert_eq!(read(text).expect_err(text).to_string(), serde_json::from_str::<Value>(text).expect_err(text).to_string());
            let (value, _) = read(r#"{"after": {"x": 1}}"#).expect("JSON");
            assert_eq!(value.to_string(), r#"{"after":{"x":1}}"#, "nothing of the failed read is left");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(read(&deep).expect_err("too deep").to_string().starts_with("recursion limit exceeded"));
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        for text in [r#"{"a": [1, 2.5, -3, "x\u00e9\n", true, false, null, {}, []], "": {"": ""}}"#, "1e400", "-0", "0.1", "[]", "\"\""] {
            let ours = read(text).map(|(value, _)| value).map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
        }
    }
}
