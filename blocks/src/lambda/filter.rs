//! Filter criteria (§1.7): EventBridge patterns over a Kinesis record, where `data` is the
//! record's data decoded from base64 and parsed as JSON.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use runnel_engine::Message;

use super::record::{EventSource, Shape, decoded_data};
use crate::event_pattern::EventPattern;

/// Longest pattern text Lambda accepts.
const MAX_PATTERN_CHARS: usize = 4096;

/// One filter of `filter_criteria`: a pattern as JSON text (as Lambda's `Pattern` is) or as a
/// table, compiled when the configuration is read.
#[derive(Debug, Clone)]
pub struct FilterPattern(EventPattern);

impl<'de> Deserialize<'de> for FilterPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor, so that an error is raised inside the deserializer's call and so located
        // at the pattern in the pipeline file.
        deserializer.deserialize_any(PatternVisitor)
    }
}

struct PatternVisitor;

impl<'de> Visitor<'de> for PatternVisitor {
    type Value = FilterPattern;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an EventBridge pattern: JSON text or a table")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FilterPattern, E> {
        if text.chars().count() > MAX_PATTERN_CHARS {
            return Err(E::custom(format!("a filter pattern is at most {MAX_PATTERN_CHARS} characters")));
        }
        EventPattern::parse(text).map(FilterPattern).map_err(|e| E::custom(format!("invalid filter pattern: {e}")))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FilterPattern, A::Error> {
        let fields = serde_json::Map::deserialize(de::value::MapAccessDeserializer::new(map))?;
        EventPattern::from_value(&Value::Object(fields)).map(FilterPattern).map_err(|e| de::Error::custom(format!("invalid filter pattern: {e}")))
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

    /// Whether the record `message`, read as `shape`, is kept: no criteria, or one pattern
    /// matching. A Kinesis record's fields are its `kinesis` fields, with `data` decoded (a record
    /// whose data is not JSON never matches a pattern on `data`); a Kafka message's are
    /// `value`, `key`, `topic`, `partition` and `offset`.
    pub(super) fn keep(&self, source: EventSource, message: &Message, shape: &Shape<'_>) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        if source == EventSource::Kafka {
            let fields = super::kafka::filter_fields(message);
            return self.patterns.iter().any(|pattern| pattern.matches_fields(|name| fields.get(name)));
        }
        let kinesis = &message.value()["kinesis"];
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
