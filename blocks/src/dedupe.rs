//! The `dedupe` block: drops repeats of a key seen within a time horizon, a count horizon, or both.

mod seen;

use std::borrow::Cow;

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, Role, async_trait};
use serde::Deserialize;

use crate::cap::Evictions;
use crate::jq::JqProgram;
use crate::time::{Clock, EventTime, Span, TimeKind, key_of, key_text};
use seen::Seen;

/// Configuration of the `dedupe` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// A jq expression for the identity of a message (e.g. `.id`); the whole message when unset.
    #[serde(default)]
    pub key: Option<JqProgram>,
    /// How long a key is remembered after it was first seen; forever (up to `max_keys`) when unset.
    #[serde(default)]
    pub ttl: Option<Span>,
    /// Whether `ttl` follows `processing` time (default) or `event` time.
    #[serde(default = "processing")]
    pub time: TimeKind,
    /// A jq expression for a message's event time, with `time = "event"`; the source's timestamp
    /// when unset.
    #[serde(default)]
    pub time_field: Option<JqProgram>,
    /// How many keys are remembered at most: the count horizon, and the bound on memory. The
    /// oldest key is forgotten first; when that happens before its `ttl`, a warning is logged and
    /// `runnel_node_state_evictions_total` counts it.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
}

fn processing() -> TimeKind {
    TimeKind::Processing
}

fn default_max_keys() -> usize {
    100_000
}

impl Component for DedupeConfig {
    const TYPE: &'static str = "dedupe";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Drops messages whose key was already seen within a time or count horizon.";
    const EXAMPLE: &'static str = "key = \".id\"\nttl = \"10m\"\nmax_keys = 100000";
}

#[async_trait]
impl BlockConfig for DedupeConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_keys == 0 {
            problems.push("`max_keys` must be at least 1".to_owned());
        }
        if self.ttl.is_some_and(|t| t.millis() == 0) {
            problems.push("`ttl` must be longer than 0".to_owned());
        }
        if self.time == TimeKind::Processing && self.time_field.is_some() {
            problems.push("`time_field` needs `time = \"event\"`".to_owned());
        }
        problems
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Dedupe::new(self.clone())))
    }
}

/// The running `dedupe` block.
#[derive(Debug)]
pub struct Dedupe {
    config: DedupeConfig,
    event_time: EventTime,
    clock: Clock,
    /// The keys remembered, with when each was first seen.
    seen: Seen,
    evictions: Evictions,
}

impl Dedupe {
    /// A dedupe block for a validated `config`.
    pub fn new(config: DedupeConfig) -> Self {
        let event_time = EventTime::new(config.time_field.clone());
        Self { config, event_time, clock: Clock::new(), seen: Seen::default(), evictions: Evictions::default() }
    }

    fn forget_expired(&mut self, now: i64) {
        let Some(ttl) = self.config.ttl else { return };
        while self.seen.oldest().is_some_and(|at| at <= now - ttl.millis()) {
            self.seen.forget_oldest();
        }
    }

    fn forget_oldest(&mut self, out: &mut Emitter) {
        while self.seen.len() > self.config.max_keys {
            if !self.seen.forget_oldest() {
                break;
            }
            if self.config.ttl.is_some() {
                let consequence = "dedupe reached max_keys before keys expired; repeats of forgotten keys will pass";
                self.evictions.record(out, "max_keys", self.config.max_keys, consequence);
            }
        }
    }
}

impl FunctionBlock for Dedupe {
    fn process(&mut self, message: Message, out: &mut Emitter) {
        let now = match self.config.time {
            TimeKind::Processing => Ok(self.clock.now_ms()),
            TimeKind::Event => self.event_time.of(&message),
        };
        let now = match now {
            Ok(now) => now,
            Err(error) => return out.fail(message, error),
        };
        self.forget_expired(now);
        let key = match key_of(self.config.key.as_ref(), &message) {
            Ok(key) => key,
            Err(error) => return out.fail(message, error),
        };
        let text = if self.config.key.is_none() { Cow::Owned(message.value().to_string()) } else { key_text(&key) };
        let repeat = !self.seen.insert(now, &text);
        drop(text);
        drop(key);
        if repeat {
            return out.filter(message);
        }
        self.forget_oldest(out);
        out.emit(message);
    }

    fn state_size(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{held_per_entry, run_block};
    use serde_json::json;

    fn config(text: &str) -> DedupeConfig {
        toml::from_str(text).unwrap()
    }

    #[tokio::test]
    async fn repeats_within_the_count_horizon_are_dropped() {
        let inputs = [1, 2, 1, 3, 1].iter().map(|id| json!({ "id": id })).collect();
        let outcome = run_block(config("key = '.id'\nmax_keys = 2"), inputs).await;
        // 1, 2 pass; 1 repeats; 3 pushes 1 out of the horizon; so the last 1 passes again.
        let ids: Vec<_> = outcome.out.iter().map(|v| v["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![1, 2, 3, 1]);
    }

    #[tokio::test]
    async fn event_time_ttl_forgets_old_keys() {
        let inputs = vec![json!({"id": "a", "t": 0}), json!({"id": "a", "t": 500}), json!({"id": "a", "t": 1500})];
        let outcome = run_block(config("key = '.id'\nttl = \"1s\"\ntime = \"event\"\ntime_field = '.t'"), inputs).await;
        let times: Vec<_> = outcome.out.iter().map(|v| v["t"].as_i64().unwrap()).collect();
        assert_eq!(times, vec![0, 1500]);
    }

    #[tokio::test]
    async fn whole_messages_are_the_default_key_and_bad_keys_fail() {
        let inputs = vec![json!({"a": 1}), json!({"a": 1}), json!({"a": 2})];
        assert_eq!(run_block(config(""), inputs).await.out.len(), 2);
        let outcome = run_block(config("key = '.a + 1'"), vec![json!({"a": "x"})]).await;
        assert_eq!(outcome.errors.len(), 1);
    }

    /// 100,000 distinct ids (`id-0` .. `id-99999`) with a `ttl`: the bytes held per key remembered.
    #[test]
    fn a_remembered_key_holds_under_80_bytes() {
        const KEYS: usize = 100_000;
        let mut block = Dedupe::new(config(&format!("key = '.id'\nttl = \"1h\"\nmax_keys = {KEYS}")));
        let mut out = Emitter::new(1);
        let per_key = held_per_entry(KEYS, || {
            for i in 0..KEYS {
                block.process(Message::new(json!({ "id": format!("id-{i}") })), &mut out);
            }
            drop(out.take_port(0));
        });
        assert_eq!(block.state_size(), KEYS);
        eprintln!("dedupe: {per_key:.1} bytes per key");
        assert!(per_key < 80.0, "{per_key:.1} bytes per key");
    }
}
