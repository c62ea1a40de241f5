//! The event every bench runs on, and the two ways to run a program.

use runnel_blocks::JqProgram;
use serde_json::Value;

/// A chat event as the throughput bench generates them (~180 bytes of JSON).
pub(crate) fn chat_event() -> Value {
    let text = r#"{"id":48213,"kind":"chat","room":"room-7","user":"user-311","text":"see you at the gate noon lunch is ready coffee deploy tonight thanks everyone great work","ts":1763798882130}"#;
    serde_json::from_str(text).expect("valid JSON")
}

/// `source` on the fast path (asserting it has one) and on jaq, labelled for criterion.
pub(crate) fn both_ways(source: &str) -> [(&'static str, JqProgram); 2] {
    let fast = JqProgram::new(source).expect("valid program");
    assert!(fast.has_fast_path(), "`{source}` has no fast path");
    let jaq = fast.clone().without_fast_path();
    [("fast", fast), ("jaq", jaq)]
}
