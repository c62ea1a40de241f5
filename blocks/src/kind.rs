//! What a JSON value is, in words, for error messages ("expected an array, got a string").

use serde_json::Value;

/// The value's kind with its article: `null`, `a boolean`, `a number`, `a string`, `an array`
/// or `an object`.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
