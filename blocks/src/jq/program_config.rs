//! How a [`JqProgram`] is written in a configuration: a string, or a table that also sets its
//! [`Limits`].

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};

use super::{JqProgram, Limits};

/// Reads `"program"` or `{ source = "program", timeout_ms = 1000, max_memory_mb = 64 }`.
pub(super) struct ProgramVisitor;

impl<'de> Visitor<'de> for ProgramVisitor {
    type Value = JqProgram;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a jq program, or a table with `source` and optional `timeout_ms` and `max_memory_mb`")
    }

    fn visit_str<E: de::Error>(self, source: &str) -> Result<JqProgram, E> {
        JqProgram::new(source).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JqProgram, A::Error> {
        let mut source: Option<String> = None;
        let mut limits = Limits::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "source" => source = Some(map.next_value()?),
                "timeout_ms" => match map.next_value::<u64>()? {
                    0 => return Err(de::Error::custom("`timeout_ms` must be at least 1")),
                    ms => limits.time = Duration::from_millis(ms),
                },
                "max_memory_mb" => match map.next_value::<u64>()? {
                    0 => return Err(de::Error::custom("`max_memory_mb` must be at least 1")),
                    mb => limits.memory = mb.saturating_mul(1024 * 1024),
                },
                other => return Err(de::Error::unknown_field(other, &["source", "timeout_ms", "max_memory_mb"])),
            }
        }
        let source = source.ok_or_else(|| de::Error::missing_field("source"))?;
        Ok(JqProgram::new(source).map_err(de::Error::custom)?.with_limits(limits))
    }
}
