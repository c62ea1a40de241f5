//! The `unbatch` block: splits a message holding an array into one message per element.

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, Role, async_trait};
use serde::Deserialize;
use serde_json::Value;

use crate::jq::JqProgram;
use crate::kind::kind;

/// Configuration of the `unbatch` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnbatchConfig {
    /// A jq expression yielding the array to split; the message itself when unset. A message
    /// whose array is missing or not an array fails.
    #[serde(default)]
    pub field: Option<JqProgram>,
}

impl Component for UnbatchConfig {
    const TYPE: &'static str = "unbatch";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Splits an array message (or an array field) into one message per element.";
    const EXAMPLE: &'static str = "field = \".records\"";
}

#[async_trait]
impl BlockConfig for UnbatchConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Unbatch { field: self.field.clone() }))
    }
}

/// The running `unbatch` block.
#[derive(Debug)]
pub struct Unbatch {
    field: Option<JqProgram>,
}

impl FunctionBlock for Unbatch {
    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        Some(Box::new(Self { field: self.field.clone() }))
    }

    fn process(&mut self, message: Message, out: &mut Emitter) {
        let array = match &self.field {
            None => match message.value() {
                Value::Array(_) => Ok(None),
                other => Err(format!("expected an array, got {}", kind(other))),
            },
            Some(field) => match field.run_first(message.value()) {
                Ok(Some(Value::Array(items))) => Ok(Some(items)),
                Ok(Some(other)) => Err(format!("`{field}` is {}, not an array", kind(&other))),
                Ok(None) => Err(format!("`{field}` yields nothing")),
                Err(error) => Err(error.to_string()),
            },
        };
        let items = match array {
            Ok(Some(items)) => items,
            Ok(None) => match message.value() {
                Value::Array(items) => items.clone(),
                _ => Vec::new(),
            },
            Err(error) => return out.fail(message, error),
        };
        let mut items = items.into_iter();
        let Some(last) = items.next_back() else { return out.filter(message) };
        for item in items {
            out.emit(message.derive(item));
        }
        let mut message = message;
        message.set_value(last);
        out.emit(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::run_block;
    use runnel_engine::AckStatus::{Delivered, Dropped};
    use serde_json::json;

    #[tokio::test]
    async fn splits_arrays_and_fails_anything_else() {
        let inputs = vec![json!([1, 2]), json!([]), json!({"a": 1}), json!([3])];
        let outcome = run_block(UnbatchConfig::default(), inputs).await;
        assert_eq!(outcome.out, vec![json!(1), json!(2), json!(3)]);
        assert_eq!(outcome.errors.len(), 1);
        assert_eq!(outcome.errors[0]["error"], "expected an array, got an object");
        assert_eq!(outcome.acks, vec![Delivered, Dropped, Delivered, Delivered]);
    }

    #[tokio::test]
    async fn splits_a_field() {
        let config: UnbatchConfig = toml::from_str("field = '.records'").unwrap();
        let outcome = run_block(config, vec![json!({"records": [{"x": 1}, {"x": 2}]}), json!({"records": 5})]).await;
        assert_eq!(outcome.out, vec![json!({"x": 1}), json!({"x": 2})]);
        assert_eq!(outcome.errors[0]["error"], "`.records` is a number, not an array");
    }
}
