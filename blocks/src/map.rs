//! The `map` block: replaces each message with the outputs of a jq program.

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, Role, async_trait};
use serde::Deserialize;
use serde_json::Value;

use crate::jq::JqProgram;

/// Configuration of the `map` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// A jq program run on each message's value. Each output becomes a message with the input's
    /// metadata: one output replaces the value, several (`.items[]`) split the message, none drop
    /// it. At most [`crate::jq::MAX_OUTPUTS`] per message. A message on which the program raises
    /// an error fails: it goes to the `errors` port, or as `on_error` says.
    pub program: JqProgram,
}

impl Component for MapConfig {
    const TYPE: &'static str = "map";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Replaces each message with the outputs of a jq program.";
    const EXAMPLE: &'static str = r#"program = '.items[] | {id, price: (.cents / 100)}'"#;
}

#[async_trait]
impl BlockConfig for MapConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Map::new(self.program.clone())))
    }
}

/// The running `map` block.
#[derive(Debug)]
pub struct Map {
    program: JqProgram,
}

impl Map {
    /// A map running `program` on each message.
    pub fn new(program: JqProgram) -> Self {
        Self { program }
    }
}

impl FunctionBlock for Map {
    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        Some(Box::new(Self { program: self.program.clone() }))
    }

    fn process(&mut self, mut message: Message, out: &mut Emitter) {
        if self.program.single_output() {
            // The value changes in place: no copy, unless another message shares it.
            return match self.program.run_in_place(message.value_mut()) {
                Ok(true) => out.emit(message),
                Ok(false) => out.filter(message),
                Err(error) => out.fail(message, error),
            };
        }
        match self.program.run(message.value()) {
            Ok(values) => emit_each(message, values, out),
            Err(error) => out.fail(message, error),
        }
    }
}

/// Emits one message per value. The last value reuses `message`, so that its acknowledgement
/// tokens move rather than being resolved separately; the others are derived copies.
fn emit_each(mut message: Message, values: Vec<Value>, out: &mut Emitter) {
    let mut values = values.into_iter();
    let Some(last) = values.next_back() else {
        out.filter(message);
        return;
    };
    for value in values {
        out.emit(message.derive(value));
    }
    message.set_value(last);
    out.emit(message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::run_block;
    use runnel_engine::AckStatus::{Delivered, Dropped};
    use serde_json::json;

    fn map(program: &str) -> MapConfig {
        MapConfig { program: JqProgram::new(program).expect("valid program") }
    }

    #[tokio::test]
    async fn one_output_replaces_the_value() {
        let outcome = run_block(map(".n += 1"), vec![json!({"n": 1}), json!({"n": 2})]).await;
        assert_eq!(outcome.out, [json!({"n": 2}), json!({"n": 3})]);
        assert_eq!(outcome.acks, [Delivered, Delivered]);
    }

    #[tokio::test]
    async fn many_outputs_split_the_message_in_order() {
        let inputs = vec![json!({"items": [1, 2, 3]}), json!({"items": []}), json!({"items": [4]})];
        let outcome = run_block(map(".items[]"), inputs).await;
        assert_eq!(outcome.out, [json!(1), json!(2), json!(3), json!(4)]);
        assert_eq!(outcome.acks, [Delivered, Dropped, Delivered], "an input is acknowledged once all its parts are");
    }

    #[tokio::test]
    async fn run_time_errors_fail_the_message() {
        let outcome = run_block(map(r#"if .ok then . else error("not ok") end"#), vec![json!({"ok": false})]).await;
        assert!(outcome.out.is_empty());
        let [record] = &outcome.errors[..] else { panic!("one error record: {:?}", outcome.errors) };
        assert_eq!(record["error"], "jq error: not ok");
        assert_eq!(record["message"], json!({"ok": false}));
    }

    #[tokio::test]
    async fn errors_after_some_outputs_fail_the_whole_message() {
        let outcome = run_block(map(r#".[] | if . > 1 then error("too big") else . end"#), vec![json!([1, 2])]).await;
        assert!(outcome.out.is_empty(), "no partial output: {:?}", outcome.out);
        assert_eq!(outcome.errors.len(), 1);
    }

    #[test]
    fn a_bad_program_fails_deserialisation() {
        let error = toml::from_str::<MapConfig>("program = '.items[] | nope'").unwrap_err();
        assert!(error.message().contains("jq name error at column 12 of `.items[] | nope`: undefined filter nope/0"), "{error}");
    }
}
