//! The `throttle` block: at most `limit` messages per `interval`, per key; the excess goes to
//! the `throttled` port (dropped, and counted, when nothing reads it).

use hashbrown::HashMap;
use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, Role, async_trait};
use serde::Deserialize;

use crate::cap::Evictions;
use crate::jq::JqProgram;
use crate::time::{Clock, Span, key_of, key_text};

/// The port that receives messages over the limit.
pub const THROTTLED: &str = "throttled";

/// Configuration of the `throttle` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Messages let through per interval and key.
    pub limit: u64,
    /// The interval (processing time), e.g. `"1s"`. Intervals are aligned to the clock.
    pub interval: Span,
    /// A jq expression whose value gets its own limit (e.g. `.user`); one limit when unset.
    #[serde(default)]
    pub key: Option<JqProgram>,
    /// Most keys tracked at once; past it the least recently limited keys are forgotten (they
    /// start a fresh interval), counted in `runnel_node_state_evictions_total` with a warning.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
}

fn default_max_keys() -> usize {
    100_000
}

impl Component for ThrottleConfig {
    const TYPE: &'static str = "throttle";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Lets at most `limit` messages per interval and key through; the rest go to `throttled`.";
    const EXAMPLE: &'static str = "limit = 5\ninterval = \"1s\"\nkey = \".user\"";
}

#[async_trait]
impl BlockConfig for ThrottleConfig {
    fn outputs(&self) -> Vec<String> {
        vec![runnel_engine::DEFAULT_PORT.to_owned(), THROTTLED.to_owned()]
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.interval.millis() == 0 {
            problems.push("`interval` must be longer than 0".to_owned());
        }
        if self.max_keys == 0 {
            problems.push("`max_keys` must be at least 1".to_owned());
        }
        problems
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Throttle::new(self.clone())))
    }
}

/// The running `throttle` block.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    clock: Clock,
    /// Key → (interval number, messages let through in it). Keys are boxed (16 bytes, not a
    /// `String`'s 24): every spare bucket of the table costs an entry.
    counts: HashMap<Box<str>, (i64, u64)>,
    /// The interval whose first message over `max_keys` dropped the keys of earlier intervals:
    /// later keys of the same interval are all current, so the sweep is not repeated per message.
    swept: Option<i64>,
    evictions: Evictions,
}

const THROTTLED_PORT: usize = 1;

impl Throttle {
    /// A throttle for a validated `config`.
    pub fn new(config: ThrottleConfig) -> Self {
        Self { config, clock: Clock::new(), counts: HashMap::new(), swept: None, evictions: Evictions::default() }
    }

    fn bound_keys(&mut self, interval: i64, out: &mut Emitter) {
        if self.counts.len() <= self.config.max_keys {
            return;
        }
        if self.swept != Some(interval) {
            self.counts.retain(|_, (at, _)| *at == interval);
            self.swept = Some(interval);
        }
        while self.counts.len() > self.config.max_keys {
            let Some(key) = self.counts.keys().next().cloned() else { break };
            self.counts.remove(&key);
            let consequence = "throttle reached max_keys; forgotten keys start a fresh interval";
            self.evictions.record(out, "max_keys", self.config.max_keys, consequence);
        }
    }
}

impl FunctionBlock for Throttle {
    fn process(&mut self, message: Message, out: &mut Emitter) {
        let key = match key_of(self.config.key.as_ref(), &message) {
            Ok(key) => key,
            Err(error) => return out.fail(message, error),
        };
        let interval = self.clock.now_ms().div_euclid(self.config.interval.millis());
        // Looked up by reference: a key is copied only the first time it is seen.
        let entry = self.counts.entry_ref(&*key_text(&key)).or_insert((interval, 0));
        if entry.0 != interval {
            *entry = (interval, 0);
        }
        let through = entry.1 < self.config.limit;
        if through {
            entry.1 += 1;
        }
        drop(key);
        if through {
            out.emit(message);
        } else {
            out.emit_to(THROTTLED_PORT, message);
        }
        self.bound_keys(interval, out);
    }

    fn state_size(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::held_per_entry;
    use serde_json::json;

    fn run(throttle: &mut Throttle, users: &[&str]) -> (usize, usize) {
        let mut out = Emitter::new(2);
        for user in users {
            throttle.process(Message::new(json!({ "user": user })), &mut out);
        }
        (out.take_port(0).len(), out.take_port(THROTTLED_PORT).len())
    }

    #[tokio::test(start_paused = true)]
    async fn limits_per_key_and_interval() {
        let config: ThrottleConfig = toml::from_str("limit = 2\ninterval = \"1s\"\nkey = '.user'").unwrap();
        let mut throttle = Throttle::new(config);
        // Align to the start of an interval so the test does not straddle two.
        let now = throttle.clock.now_ms();
        tokio::time::advance(std::time::Duration::from_millis((1000 - now.rem_euclid(1000)) as u64)).await;
        assert_eq!(run(&mut throttle, &["a", "a", "a", "b"]), (3, 1));
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        assert_eq!(run(&mut throttle, &["a", "a", "a"]), (2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_key_cap_is_enforced() {
        let config: ThrottleConfig = toml::from_str("limit = 1\ninterval = \"1h\"\nkey = '.user'\nmax_keys = 2").unwrap();
        let mut throttle = Throttle::new(config);
        run(&mut throttle, &["a", "b", "c"]);
        assert_eq!(throttle.state_size(), 2);
    }

    /// 100,000 users (`user-0` .. `user-99999`) in one interval: the bytes held per key tracked.
    #[test]
    fn a_tracked_key_holds_under_80_bytes() {
        const KEYS: usize = 100_000;
        let config: ThrottleConfig = toml::from_str(&format!("limit = 1\ninterval = \"1h\"\nkey = '.user'\nmax_keys = {KEYS}")).unwrap();
        let mut throttle = Throttle::new(config);
        let mut out = Emitter::new(2);
        let per_key = held_per_entry(KEYS, || {
            for i in 0..KEYS {
                throttle.process(Message::new(json!({ "user": format!("user-{i}") })), &mut out);
            }
            drop(out.take_port(0));
        });
        assert_eq!(throttle.state_size(), KEYS);
        eprintln!("throttle: {per_key:.1} bytes per key");
        assert!(per_key < 80.0, "{per_key:.1} bytes per key");
    }
}
