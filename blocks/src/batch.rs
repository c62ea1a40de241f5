//! The `batch` block: groups messages into one message holding an array, by count, bytes or
//! time, whichever comes first.

use runnel_engine::{
    Acks, BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, Metadata, Role, async_trait,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::time::Span;

/// Configuration of the `batch` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Emit once the batch holds this many messages.
    #[serde(default = "default_max_messages")]
    pub max_messages: usize,
    /// Emit once the messages' sizes add up to this many bytes (the raw size a source read, or
    /// the JSON length when unknown).
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// Emit a non-empty batch this long after its first message arrived.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
}

fn default_max_messages() -> usize {
    100
}

fn default_timeout() -> Span {
    Span::from_millis(1000)
}

impl Component for BatchConfig {
    const TYPE: &'static str = "batch";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Groups messages into one array message by count, bytes or timeout.";
    const EXAMPLE: &'static str = "max_messages = 100\nmax_bytes = 1048576\ntimeout = \"1s\"";
}

#[async_trait]
impl BlockConfig for BatchConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_messages == 0 {
            problems.push("`max_messages` must be at least 1".to_owned());
        }
        if self.max_bytes == Some(0) {
            problems.push("`max_bytes` must be at least 1".to_owned());
        }
        if self.timeout.millis() == 0 {
            problems.push("`timeout` must be longer than 0".to_owned());
        }
        problems
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Batcher::new(self.clone())))
    }
}

/// The running `batch` block.
#[derive(Debug)]
pub struct Batcher {
    config: BatchConfig,
    values: Vec<Value>,
    acks: Acks,
    meta: Option<Metadata>,
    bytes: usize,
    deadline: Option<Instant>,
}

impl Batcher {
    /// A batcher with `config`.
    pub fn new(config: BatchConfig) -> Self {
        Self { config, values: Vec::new(), acks: Acks::none(), meta: None, bytes: 0, deadline: None }
    }

    fn emit(&mut self, out: &mut Emitter) {
        if self.values.is_empty() {
            return;
        }
        let mut meta = self.meta.take().unwrap_or_default();
        meta.size = u32::try_from(self.bytes).unwrap_or(u32::MAX);
        let mut message = Message::with_meta(Value::Array(std::mem::take(&mut self.values)), meta);
        message.acks = self.acks.take();
        self.bytes = 0;
        self.deadline = None;
        out.emit(message);
    }
}

impl FunctionBlock for Batcher {
    fn process(&mut self, mut message: Message, out: &mut Emitter) {
        let size = match message.size_hint() {
            0 => serde_json::to_vec(message.value()).map_or(0, |v| v.len()),
            known => known,
        };
        if self.values.is_empty() {
            self.deadline = Some(Instant::now() + self.config.timeout.duration());
            self.meta = Some(message.meta().clone());
        }
        self.acks.merge(message.acks.take());
        self.bytes += size;
        self.values.push(message.into_value());
        let full = self.values.len() >= self.config.max_messages || self.config.max_bytes.is_some_and(|max| self.bytes >= max);
        if full {
            self.emit(out);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Emitter) {
        if self.deadline.is_some_and(|at| at <= now) {
            self.emit(out);
        }
    }

    fn on_close(&mut self, out: &mut Emitter) {
        self.emit(out);
    }

    fn state_size(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::run_block;
    use runnel_engine::AckStatus::Delivered;
    use serde_json::json;

    fn config(text: &str) -> BatchConfig {
        toml::from_str(text).unwrap()
    }

    #[tokio::test]
    async fn groups_by_count_and_flushes_the_rest_at_the_end() {
        let inputs = (0..7).map(|n| json!(n)).collect();
        let outcome = run_block(config("max_messages = 3\ntimeout = \"1h\""), inputs).await;
        assert_eq!(outcome.out, vec![json!([0, 1, 2]), json!([3, 4, 5]), json!([6])]);
        assert_eq!(outcome.acks, vec![Delivered; 7], "every batched message is acknowledged");
    }

    #[tokio::test]
    async fn groups_by_bytes() {
        let inputs = (0..4).map(|_| json!("aaaaaaaa")).collect();
        let outcome = run_block(config("max_messages = 100\nmax_bytes = 20\ntimeout = \"1h\""), inputs).await;
        assert_eq!(outcome.out.len(), 2, "{:?}", outcome.out);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_emits_a_partial_batch() {
        let mut batcher = Batcher::new(config("max_messages = 10\ntimeout = \"2s\""));
        let mut out = Emitter::new(1);
        batcher.process(Message::new(json!(1)), &mut out);
        let deadline = batcher.deadline().unwrap();
        batcher.on_deadline(deadline - std::time::Duration::from_millis(1), &mut out);
        assert!(out.take_port(0).is_empty(), "not yet");
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        batcher.on_deadline(Instant::now(), &mut out);
        assert_eq!(out.take_port(0).into_iter().map(Message::into_value).collect::<Vec<_>>(), vec![json!([1])]);
        assert_eq!(batcher.deadline(), None);
    }

    #[test]
    fn zero_limits_are_rejected() {
        assert_eq!(config("max_messages = 0\nmax_bytes = 0\ntimeout = 0").validate().len(), 3);
    }
}
