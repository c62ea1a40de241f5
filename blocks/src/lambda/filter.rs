//! Filter criteria (§1.7): EventBridge patterns over a Kinesis record, where `data` is the
//! record's data decoded from base64 and parsed as JSON.

use serde::Deserialize;
use serde_json::Value;

use super::record::{Shape, decoded_data};
use crate::event_pattern::EventPattern;

/// Longest pattern text Lambda accepts.
const MAX_PATTERN_CHARS: usize = 4096;

/// One filter of `filter_criteria`: a pattern as JSON text (as Lambda's `Pattern` is) or as a
/// table, compiled when the configuration is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "PatternText")]
pub struct FilterPattern(EventPattern);

#[derive(Deserialize)]
#[serde(untagged)]
enum PatternText {
    Text(String),
    Table(serde_json::Map<String, Value>),
}

impl TryFrom<PatternText> for FilterPattern {
    type Error = String;

    fn try_from(text: PatternText) -> Result<Self, String> {
        let pattern = match text {
            PatternText::Text(text) if text.chars().count() > MAX_PATTERN_CHARS => {
                return Err(format!("a filter pattern is at most {MAX_PATTERN_CHARS} characters"));
            }
            PatternText::Text(text) => EventPattern::parse(&text),
            PatternText::Table(fields) => EventPattern::from_value(&Value::Object(fields)),
        };
        pattern.map(Self).map_err(|e| format!("invalid filter pattern: {e}"))
    }
}

/// The compiled `filter_criteria` of a block.
#[derive(Debug, Clone)]
pub(super) struct Filters {
    patterns: Vec<EventPattern>,
    /// Whether a pattern names `data`, so that it must be decoded.
    reads_data: bool,
}

impl Filters {
    pub(super) fn new(patterns: &[FilterPattern]) -> Self {
        let patterns: Vec<EventPattern> = patterns.iter().map(|p| p.0.clone()).collect();
        let reads_data = patterns.iter().any(|p| p.names("data"));
        Self { patterns, reads_data }
    }

    /// Whether the record `kinesis` (its `kinesis` object), read as `shape`, is kept: no
    /// criteria, or one pattern matching. A record whose data is not JSON never matches a
    /// pattern on `data`.
    pub(super) fn keep(&self, kinesis: &Value, shape: &Shape<'_>) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let data = if self.reads_data { decoded_data(shape.data) } else { None };
        self.patterns.iter().any(|pattern| {
            if pattern.names("data") && data.is_none() {
                return false;
            }
            pattern.matches_fields(|name| match name {
                "data" => data.as_ref(),
                other => kinesis.get(other),
            })
        })
    }
}
