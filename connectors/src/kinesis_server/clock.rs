//! The time the endpoint stamps arrivals with and ages iterators by: the system's, or one a test
//! moves by hand.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that only moves when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves it on by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `ms` as Java's `Date.toString()` in UTC writes it, as AWS's messages do: `Tue Dec 01 05:33:58 UTC 2026`.
pub(crate) fn amz_utc(ms: i64) -> String {
    let time = UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    // "Tue, 01 Dec 2026 05:33:58 GMT"
    let http = httpdate::fmt_http_date(time);
    let pieces: Vec<&str> = http.trim_end_matches(" GMT").split([',', ' ']).filter(|p| !p.is_empty()).collect();
    match pieces.as_slice() {
        [weekday, day, month, year, clock] => format!("{weekday} {month} {day} {clock} UTC {year}"),
        _ => http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_in_aws_messages() {
        assert_eq!(amz_utc(1_796_103_238_000), "Tue Dec 01 05:33:58 UTC 2026");
    }
}
