//! The `filter` block: keeps the messages for which a jq condition holds.

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, Role, async_trait};
use serde::Deserialize;

use crate::jq::JqProgram;

/// Configuration of the `filter` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// A jq expression run on each message's value. The message is kept when the first output is
    /// truthy (anything but `false` and `null`) and dropped when it is falsy or there is none.
    /// A message on which the expression raises an error fails: it goes to the `errors` port,
    /// or as `on_error` says.
    pub condition: JqProgram,
}

impl Component for FilterConfig {
    const TYPE: &'static str = "filter";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Keeps the messages for which a jq condition is true.";
    const EXAMPLE: &'static str = r#"condition = '.kind == "chat" and (.text | length) > 0'"#;
}

#[async_trait]
impl BlockConfig for FilterConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Filter::new(self.condition.clone())))
    }
}

/// The running `filter` block.
#[derive(Debug)]
pub struct Filter {
    condition: JqProgram,
}

impl Filter {
    /// A filter keeping the messages for which `condition` holds.
    pub fn new(condition: JqProgram) -> Self {
        Self { condition }
    }
}

impl FunctionBlock for Filter {
    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        Some(Box::new(Self { condition: self.condition.clone() }))
    }

    fn process(&mut self, message: Message, out: &mut Emitter) {
        match self.condition.run_bool(message.value()) {
            Ok(true) => out.emit(message),
            Ok(false) => out.filter(message),
            Err(error) => out.fail(message, error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::run_block;
    use runnel_engine::AckStatus::{Delivered, Dropped};
    use serde_json::json;

    fn filter(condition: &str) -> FilterConfig {
        FilterConfig { condition: JqProgram::new(condition).expect("valid condition") }
    }

    #[tokio::test]
    async fn keeps_messages_whose_condition_is_truthy() {
        let inputs = vec![json!({"n": 1}), json!({"n": 5}), json!({"n": 9})];
        let outcome = run_block(filter(".n > 2"), inputs).await;
        assert_eq!(outcome.out, [json!({"n": 5}), json!({"n": 9})]);
        assert_eq!(outcome.acks, [Dropped, Delivered, Delivered]);
    }

    #[tokio::test]
    async fn null_and_no_output_drop_the_message() {
        let inputs = vec![json!({"tag": 0}), json!({}), json!({"tag": false})];
        let outcome = run_block(filter(".tag"), inputs).await;
        assert_eq!(outcome.out, [json!({"tag": 0})], "0 is truthy, null and false are not");

        let outcome = run_block(filter("empty"), vec![json!(1)]).await;
        assert!(outcome.out.is_empty());
        assert_eq!(outcome.acks, [Dropped]);
    }

    #[tokio::test]
    async fn run_time_errors_fail_the_message() {
        let inputs = vec![json!({"a": 1}), json!({"a": "x"})];
        let outcome = run_block(filter(".a + 1 > 1"), inputs).await;
        assert_eq!(outcome.out, [json!({"a": 1})]);
        let [record] = &outcome.errors[..] else { panic!("one error record: {:?}", outcome.errors) };
        assert_eq!(record["error"], r#"jq error: cannot calculate "x" + 1"#);
        assert_eq!(record["message"], json!({"a": "x"}));
        assert_eq!(outcome.acks, [Delivered, Delivered]);
    }

    #[test]
    fn a_bad_condition_fails_deserialisation_with_its_position() {
        let error = toml::from_str::<FilterConfig>("condition = '.kind =='").unwrap_err();
        assert!(error.message().contains("jq syntax error at column 9 of `.kind ==`"), "{error}");
        let error = toml::from_str::<FilterConfig>("condition = '.a'\ncolour = 'red'").unwrap_err();
        assert!(error.message().contains("unknown field `colour`"), "{error}");
    }
}
