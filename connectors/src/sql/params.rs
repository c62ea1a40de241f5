//! A node's named parameters: each a jq expression of the message, in the order rows hold their
//! values. The sink and the block read a message's parameters the same way.

use std::borrow::Cow;

use runnel_blocks::JqProgram;
use serde_json::Value;

use super::sqlite::Row;

/// A message's row as the sink binds it: each value borrowed from the message where the
/// expression only reads it (`.user`), made only where it computes one; `None` binds NULL.
pub(crate) type RowRef<'a> = Vec<Option<Cow<'a, Value>>>;

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

    /// A message's row, borrowing what it can from the message (no copy of its strings).
    ///
    /// # Errors
    /// The first expression that fails, named.
    pub(crate) fn row_ref<'a>(&'a self, value: &'a Value) -> Result<RowRef<'a>, String> {
        let mut row = Vec::with_capacity(self.0.len());
        for (name, program) in &self.0 {
            row.push(program.run_first_ref(value).map_err(|e| format!("`{name}`: {e}"))?);
        }
        Ok(row)
    }
}
