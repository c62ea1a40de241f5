//! [`LogLimiter`]: a warning that repeats (a failing message a second, a broker that is down)
//! is logged at most once per interval, with the count of the ones held back.

use std::time::{Duration, Instant};

/// Lets a repeated warning through at most once per interval.
///
/// ```
/// use std::time::Duration;
/// use runnel_engine::LogLimiter;
///
/// let mut limit = LogLimiter::new(Duration::from_secs(60));
/// assert_eq!(limit.check(1), Some(0)); // the first one is logged
/// assert_eq!(limit.check(3), None); // these three are held back
/// ```
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// How often the engine and the connectors log one kind of warning at most.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

    /// A limiter that lets one warning through per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: None, suppressed: 0 }
    }

    /// Records `count` occurrences of the warning. Returns `Some(held_back)` when it is time
    /// to log one, `held_back` being how many others went unlogged since the last one logged
    /// (those of this call included); `None` when it holds this one back.
    pub fn check(&mut self, count: u64) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < self.interval) {
            self.suppressed += count;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed) + count.saturating_sub(1))
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(Self::DEFAULT_INTERVAL)
    }
}
