//! Channel templates: `chat/pub/{room}` names a channel from a message, through the crate's
//! shared [`crate::template::Template`]: a placeholder reads a field of the message's value
//! (`{room}`, `{from.user}`) and, if the value has no such field, the message's metadata
//! attribute of that name (`{client_id}`, `{channel}`). Values are used as they are.

use std::fmt;
use std::ops::Deref;

use runnel_engine::Metadata;
use serde::Deserialize;
use serde_json::Value;

use crate::template::{Escape, RenderError};

/// The longest channel name accepted, in bytes.
pub const MAX_CHANNEL_BYTES: usize = 256;

/// A parsed channel template (never empty).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template(crate::template::Template);

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let template = crate::template::Template::try_from(text)?;
        if template.is_empty() {
            return Err("a channel template cannot be empty".to_owned());
        }
        Ok(Self(template))
    }
}

impl Deref for Template {
    type Target = crate::template::Template;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Template {
    /// Fills the template from `value`, then `meta`'s attributes for top-level names.
    ///
    /// # Errors
    /// A message naming the placeholder that neither has, or that holds an object or array, or
    /// saying that the name is empty or too long.
    pub fn render(&self, value: &Value, meta: Option<&Metadata>) -> Result<String, String> {
        let out = self.0.render(value, meta, Escape::None).map_err(|error| match error {
            RenderError::NotScalar(field) => format!("channel `{self}`: `{field}` is not a string or number"),
            RenderError::Missing(field) => format!("channel `{self}`: the message has no `{field}`"),
        })?;
        if out.is_empty() || out.len() > MAX_CHANNEL_BYTES {
            return Err(format!("channel `{self}` gave `{out}`, which is empty or longer than {MAX_CHANNEL_BYTES} bytes"));
        }
        Ok(out)
    }
}
