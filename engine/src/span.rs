//! Durations as configurations write them.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// A duration in a configuration: `"10s"`, `"500ms"`, `"1m 30s"`, or an integer of milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "DurationText")]
pub struct Span(Duration);

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationText {
    Millis(u64),
    Text(String),
}

impl TryFrom<DurationText> for Span {
    type Error = String;

    fn try_from(text: DurationText) -> Result<Self, String> {
        match text {
            DurationText::Millis(ms) => Ok(Self(Duration::from_millis(ms))),
            DurationText::Text(text) => {
                humantime::parse_duration(&text).map(Self).map_err(|e| format!("`{text}` is not a duration such as \"10s\" or \"250ms\": {e}"))
            }
        }
    }
}

impl Span {
    /// A span of `ms` milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// The span in whole milliseconds.
    pub fn millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    /// The span as a [`Duration`].
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}
