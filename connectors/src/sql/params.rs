//! A node's named parameters: each a jq expression of the message, in the order rows hold their
//! values. The sink and the block read a message's parameters the same way.

use runnel_blocks::JqProgram;
use serde_json::Value;

use super::sqlite::Row;

/// The parameters, by name, in row order.
#[derive(Clone, Debug)]
pub(crate) struct Params(Vec<(String, JqProgram)>);

impl Params {
    pub(crate) fn new<'a>(params: impl IntoIterator<Item = (&'a String, &'a JqProgram)>) -> Self {
        Self(params.into_iter().map(|(name, program)| (name.clone(), program.clone())).collect())
    }

    /// The names, in row order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.0.iter().map(|(name, _)| name.clone()).collect()
    }

    /// A message's row: each expression's first output (none is NULL).
    ///
    /// # Errors
    /// The first expression that fails, named.
    pub(crate) fn row(&self, value: &Value) -> Result<Row, String> {
        self.0
            .iter()
            .map(|(name, program)| program.run_first(value).map(|v| v.unwrap_or(Value::Null)).map_err(|e| format!("`{name}`: {e}")))
            .collect()
    }
}
