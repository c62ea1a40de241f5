//! The `timer` source: a tick every `interval`, for work on a schedule (PubNub's on-interval
//! functions, a periodic report, a poll):
//!
//! ```json
//! {"tick": 3, "ts": 1763798400000, "scheduled_ts": 1763798400000}
//! ```
//!
//! Ticks follow a fixed schedule from the start (the first after one `interval`, or at once with
//! `immediately`): a slow pipeline does not shift it, and ticks it missed while the pipeline was
//! busy are skipped, not sent in a burst, as cron and tokio's `MissedTickBehavior::Skip` do.

use std::time::{SystemTime, UNIX_EPOCH};

use runnel_engine::{
    Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Metadata, Origin, Role, RunContext, Span, Stream,
    async_trait,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::{Instant, MissedTickBehavior};

/// Emits a tick every `interval`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerConfig {
    /// Time between ticks: `"10s"`, `"1m"`, `"500ms"`.
    pub interval: Span,
    /// Ticks to emit before finishing; unset: until shutdown.
    #[serde(default)]
    pub count: Option<u64>,
    /// Emit the first tick at once instead of after one interval.
    #[serde(default)]
    pub immediately: bool,
    /// A value every tick carries in `payload` (a job's parameters, say).
    #[serde(default)]
    pub payload: Option<Value>,
}

impl Component for TimerConfig {
    const TYPE: &'static str = "timer";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "Emits a tick every `interval` ({tick, ts, scheduled_ts}): work on a schedule, PubNub's on-interval functions.";
    const EXAMPLE: &'static str = "interval = \"10s\"\nimmediately = true\npayload = { job = \"report\" }";
}

/// The shortest `interval`: shorter ones are a generator's job.
const MIN_INTERVAL_MS: i64 = 10;

#[async_trait]
impl BlockConfig for TimerConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.interval.millis() < MIN_INTERVAL_MS {
            problems.push(format!("`interval` must be at least {MIN_INTERVAL_MS}ms, not {}", self.interval));
        }
        if self.count == Some(0) {
            problems.push("`count` must be at least 1 (leave it out to tick until shutdown)".to_owned());
        }
        problems
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Timer { config: self.clone() }))
    }
}

/// The running `timer` source.
#[derive(Debug)]
pub struct Timer {
    config: TimerConfig,
}

fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Block for Timer {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let tracker = cx.ack_metrics_tracker();
        let from = Stream::new(cx.name.clone(), None);
        let period = self.config.interval.duration();
        let (started, wall) = (Instant::now(), SystemTime::now());
        let first = if self.config.immediately { started } else { started + period };
        let mut ticks = tokio::time::interval_at(first, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut tick = 0_u64;
        while self.config.count.is_none_or(|count| tick < count) {
            let at = tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => return Ok(()),
                at = ticks.tick() => at,
            };
            let scheduled = epoch_ms(wall + (at - started));
            let now = epoch_ms(SystemTime::now());
            let mut value = Map::new();
            value.insert("tick".into(), Value::from(tick));
            value.insert("ts".into(), Value::from(now));
            value.insert("scheduled_ts".into(), Value::from(scheduled));
            if let Some(payload) = &self.config.payload {
                value.insert("payload".into(), payload.clone());
            }
            let meta = Metadata { timestamp: Some(scheduled), origin: Origin::at(&from, tick), ..Metadata::default() };
            let mut message = Message::with_meta(Value::Object(value), meta);
            message.acks = tracker.token_at(tick, std::time::Instant::now());
            tick += 1;
            tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => return Ok(()),
                sent = cx.output.send(vec![message]) => sent?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use runnel_engine::{BlockConfig as _, PipelineBuilder};
    use serde_json::json;

    use super::*;

    fn config(text: &str) -> TimerConfig {
        toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[tokio::test(start_paused = true)]
    async fn ticks_come_on_schedule_with_their_number_and_payload() {
        let timer = config("interval = \"10s\"\ncount = 3\npayload = { job = \"report\" }");
        let (sink, mut out) = crate::MemorySinkConfig::channel();
        let started = Instant::now();
        let running = PipelineBuilder::new().source("tick", timer).sink("out", ["tick"], sink).build().expect("valid").start().await.expect("starts");
        let mut seen = Vec::new();
        while let Some(message) = out.recv().await {
            let value = message.value();
            seen.push((value["tick"].clone(), value["payload"].clone(), started.elapsed().as_secs()));
        }
        running.wait().await.expect("runs");
        assert_eq!(
            seen,
            [(json!(0), json!({"job": "report"}), 10), (json!(1), json!({"job": "report"}), 20), (json!(2), json!({"job": "report"}), 30)]
        );
    }

    #[test]
    fn an_interval_too_short_and_a_count_of_zero_are_refused() {
        let problems = config("interval = \"1ms\"\ncount = 0").validate();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
