//! Time for the stateful blocks: durations in configurations, a processing-time clock that
//! tests can pause, and reading a message's event time.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runnel_engine::Message;
use serde::Deserialize;
use serde_json::Value;

use crate::jq::JqProgram;

/// Durations in configurations (defined in the engine, which the JavaScript blocks share).
pub use runnel_engine::Span;

/// Which clock a stateful block follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    /// The time each message says it happened (a field, or the source's timestamp).
    #[default]
    Event,
    /// The time the block sees the message.
    Processing,
}

/// Processing time in milliseconds since the epoch. It advances with tokio's clock, so tests that
/// pause time control it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    wall_at_start: i64,
    start: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Self { wall_at_start: wall, start: tokio::time::Instant::now() }
    }

    /// Now, in ms since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.at(tokio::time::Instant::now())
    }

    /// `instant` in ms since the epoch.
    pub(crate) fn at(&self, instant: tokio::time::Instant) -> i64 {
        self.wall_at_start + instant.saturating_duration_since(self.start).as_millis() as i64
    }

    /// The instant at `ms` since the epoch (now, if that is in the past).
    pub(crate) fn instant(&self, ms: i64) -> tokio::time::Instant {
        let offset = u64::try_from(ms - self.wall_at_start).unwrap_or(0);
        self.start + Duration::from_millis(offset)
    }
}

/// Reads when a message happened.
#[derive(Clone, Debug)]
pub(crate) struct EventTime {
    field: Option<JqProgram>,
}

impl EventTime {
    /// From `field` (a jq expression yielding ms since the epoch or an RFC 3339 string), or from
    /// the message's metadata timestamp when no field is given.
    pub(crate) fn new(field: Option<JqProgram>) -> Self {
        Self { field }
    }

    /// The event time of `message` in ms since the epoch.
    pub(crate) fn of(&self, message: &Message) -> Result<i64, String> {
        let Some(field) = &self.field else {
            return message.meta().timestamp.ok_or_else(|| "the message has no timestamp; set `time_field`".to_owned());
        };
        // A path reads the time by reference: the common case, and the fastest.
        match field.run_ref(message.value()) {
            Some(found) => time_in(field, found.map_err(|e| e.to_string())?),
            None => time_in(field, field.run_first_ref(message.value()).map_err(|e| e.to_string())?.as_deref()),
        }
    }
}

/// The time `value`, read by `field`, stands for.
fn time_in(field: &JqProgram, value: Option<&Value>) -> Result<i64, String> {
    match value {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).ok_or_else(|| format!("`{field}` is {n}, not a time")),
        Some(Value::String(text)) => humantime::parse_rfc3339_weak(text)
            .map_err(|e| format!("`{field}` is {text:?}, not an RFC 3339 time: {e}"))
            .map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)),
        Some(other) => Err(format!("`{field}` is {other}, not a time (ms since the epoch or RFC 3339)")),
        None => Err(format!("`{field}` yields no time")),
    }
}

/// A message's key under `key`, borrowed from the message when `key` is a path: `null` when
/// there is no program.
pub(crate) fn key_of<'a>(key: Option<&'a JqProgram>, message: &'a Message) -> Result<Cow<'a, Value>, String> {
    let Some(program) = key else { return Ok(Cow::Owned(Value::Null)) };
    if let Some(found) = program.run_ref(message.value()) {
        return Ok(found.map_err(|e| e.to_string())?.map_or(Cow::Owned(Value::Null), Cow::Borrowed));
    }
    Ok(program.run_first_ref(message.value()).map_err(|e| e.to_string())?.unwrap_or(Cow::Owned(Value::Null)))
}

/// A key as text usable in a map: a string as itself, anything else as JSON.
pub(crate) fn key_text(key: &Value) -> Cow<'_, str> {
    match key {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_text_or_milliseconds() {
        let text: Span = toml::Value::String("1m 30s".into()).try_into().unwrap();
        assert_eq!(text.millis(), 90_000);
        let ms: Span = toml::Value::Integer(250).try_into().unwrap();
        assert_eq!(ms.millis(), 250);
        let bad: Result<Span, _> = toml::Value::String("soon".into()).try_into();
        assert!(bad.unwrap_err().to_string().contains("`soon` is not a duration"));
    }

    #[test]
    fn event_time_reads_numbers_strings_or_metadata() {
        let field = EventTime::new(Some(JqProgram::new(".at").unwrap()));
        let message = Message::new(serde_json::json!({"at": "2026-11-22T08:00:00Z"}));
        assert_eq!(field.of(&message), Ok(1_795_334_400_000));
        let message = Message::new(serde_json::json!({"at": 1234}));
        assert_eq!(field.of(&message), Ok(1234));
        let message = Message::new(serde_json::json!({"at": true}));
        assert!(field.of(&message).unwrap_err().contains("not a time"));
        let mut message = Message::new(serde_json::json!({}));
        message.meta_mut().timestamp = Some(42);
        assert_eq!(EventTime::new(None).of(&message), Ok(42));
    }
}
