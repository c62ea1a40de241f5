//! The `generator` source: synthetic chat events, at a given rate or as fast as the pipeline
//! takes them, for the quickstart, demos and benchmarks.
//!
//! Events look like a realtime chat's traffic (about 180 bytes of JSON; 80% `chat`, the rest
//! `join`, `leave` and `typing`):
//!
//! ```json
//! {"id":42,"kind":"chat","room":"room-3","user":"user-17","text":"see you at the gate at noon","ts":1763798400042}
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use runnel_engine::{
    Block, BlockConfig, BlockError, BuildContext, BuildError, BuiltBlock, Component, Message, Metadata, Origin, Role, RunContext, Stream, async_trait,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Generates synthetic chat events.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// How many events to generate before finishing; unset means until shutdown.
    #[serde(default)]
    pub count: Option<u64>,
    /// Events per second; unset means as fast as the pipeline accepts them.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Number of distinct rooms.
    #[serde(default = "default_rooms")]
    pub rooms: u32,
    /// Number of distinct users.
    #[serde(default = "default_users")]
    pub users: u32,
    /// Seed of the random choices, so runs are reproducible.
    #[serde(default)]
    pub seed: u64,
    /// Event time of the first event in ms since the epoch; unset means the wall clock at start.
    /// With it set, event `n` has time `start_time_ms + n * time_step_ms` (reproducible windows).
    #[serde(default)]
    pub start_time_ms: Option<i64>,
    /// Event-time step between consecutive events, in ms, when `start_time_ms` is set.
    #[serde(default = "default_step")]
    pub time_step_ms: i64,
}

fn default_rooms() -> u32 {
    8
}
fn default_users() -> u32 {
    100
}
fn default_step() -> i64 {
    10
}

impl Component for GeneratorConfig {
    const TYPE: &'static str = "generator";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "Generates synthetic chat events (join, chat, typing, leave) at a rate or count.";
    const EXAMPLE: &'static str = "count = 1000\nrate = 100.0\nrooms = 4\nusers = 20\nseed = 7";
}

#[async_trait]
impl BlockConfig for GeneratorConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            problems.push("`rate` must be a positive number of events per second".to_owned());
        }
        if self.rooms == 0 || self.users == 0 {
            problems.push("`rooms` and `users` must be at least 1".to_owned());
        }
        problems
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::task(Generator { config: self.clone() }))
    }
}

/// The running `generator` source.
#[derive(Debug)]
pub struct Generator {
    config: GeneratorConfig,
}

const WORDS: &[&str] = &[
    "hello", "everyone", "see", "you", "at", "the", "gate", "noon", "lunch", "is", "ready", "who", "wants", "coffee", "build", "passed", "deploy",
    "tonight", "great", "work", "thanks", "meeting", "moved", "to", "three", "o'clock",
];

const KINDS: &[(&str, u32)] = &[("chat", 80), ("join", 8), ("typing", 4), ("leave", 8)];

impl Generator {
    fn event(&self, rng: &mut SmallRng, id: u64, ts: i64, from: &std::sync::Arc<Stream>) -> Message {
        let roll = rng.random_range(0..100);
        let mut acc = 0;
        let kind = KINDS.iter().find(|(_, w)| {
            acc += w;
            roll < acc
        });
        let kind = kind.map_or("chat", |(k, _)| k);
        let room = format!("room-{}", rng.random_range(0..self.config.rooms));
        let user = format!("user-{}", rng.random_range(0..self.config.users));
        let mut text = String::with_capacity(96);
        if kind == "chat" {
            let words = rng.random_range(8..16);
            for i in 0..words {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
            }
        }
        let size = 70 + kind.len() + room.len() + user.len() + text.len() + 2 * 20;
        let mut map = Map::new();
        map.insert("id".into(), Value::from(id));
        map.insert("kind".into(), Value::from(kind));
        map.insert("room".into(), Value::from(room));
        map.insert("user".into(), Value::from(user));
        map.insert("text".into(), Value::from(text));
        map.insert("ts".into(), Value::from(ts));
        let meta = Metadata { timestamp: Some(ts), origin: Origin::at(from, id), size: size as u32, ..Metadata::default() };
        Message::with_meta(Value::Object(map), meta)
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl Block for Generator {
    async fn run(self: Box<Self>, mut cx: RunContext) -> Result<(), BlockError> {
        let mut rng = SmallRng::seed_from_u64(self.config.seed);
        let tracker = cx.ack_metrics_tracker();
        let from = Stream::new(cx.name.clone(), None);
        let batch_size = cx.batch_size.get() as u64;
        let start = tokio::time::Instant::now();
        let mut id = 0_u64;
        loop {
            let remaining = self.config.count.map_or(u64::MAX, |c| c - id);
            if remaining == 0 {
                return Ok(());
            }
            let mut due = batch_size.min(remaining);
            if let Some(rate) = self.config.rate {
                let emitted_by_now = (start.elapsed().as_secs_f64() * rate) as u64;
                if emitted_by_now <= id {
                    let next = start + Duration::from_secs_f64((id + 1) as f64 / rate);
                    tokio::select! {
                        () = cx.shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep_until(next) => {}
                    }
                    continue;
                }
                due = due.min(emitted_by_now - id);
            }
            if cx.shutdown.is_cancelled() {
                return Ok(());
            }
            let wall = now_ms();
            let now = std::time::Instant::now();
            let batch = (0..due)
                .map(|i| {
                    let n = id + i;
                    let ts = self.config.start_time_ms.map_or(wall, |t0| t0 + n as i64 * self.config.time_step_ms);
                    let mut message = self.event(&mut rng, n, ts, &from);
                    message.acks = tracker.token_at(n, now);
                    message
                })
                .collect();
            id += due;
            tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => return Ok(()),
                sent = cx.output.send(batch) => sent?,
            }
        }
    }
}
