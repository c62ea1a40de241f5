//! The registry: the component types a pipeline file can name with `type = "..."`, and how a
//! node's own fields become a typed configuration.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::component::{BlockConfig, Role};

/// A configuration type that pipeline files can name with `type = "..."`.
pub trait Component: BlockConfig + DeserializeOwned {
    /// The `type` value.
    const TYPE: &'static str;
    /// Whether it is a source, a block or a sink.
    const ROLE: Role;
    /// One line for `--help` and the docs.
    const DESCRIPTION: &'static str;
    /// A TOML table body (without `type` and `inputs`) that a test deserialises.
    const EXAMPLE: &'static str;
}

type ParseFn = fn(toml::Value) -> Result<Box<dyn BlockConfig>, FieldError>;

/// A configuration field that failed to deserialise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field the error is about, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// One registered component type.
#[derive(Clone, Copy)]
pub struct Entry {
    /// The `type` value.
    pub type_name: &'static str,
    /// Its role.
    pub role: Role,
    /// One line of description.
    pub description: &'static str,
    /// A configuration example.
    pub example: &'static str,
    parse: ParseFn,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("type_name", &self.type_name).field("role", &self.role).finish()
    }
}

impl Entry {
    /// Deserialises a node's own fields into this type's configuration.
    ///
    /// # Errors
    /// [`FieldError`] naming the field when serde can tell which one.
    pub fn parse(&self, fields: toml::Value) -> Result<Box<dyn BlockConfig>, FieldError> {
        (self.parse)(fields)
    }
}

fn parse<C: Component>(fields: toml::Value) -> Result<Box<dyn BlockConfig>, FieldError> {
    match serde_path_to_error::deserialize::<_, C>(fields) {
        Ok(config) => Ok(Box::new(config)),
        Err(error) => {
            let path = error.path().to_string();
            let message = error.into_inner().message().trim().to_owned();
            let field = if path == "." { field_in_message(&message) } else { Some(path) };
            Err(FieldError { field, message })
        }
    }
}

/// serde names unknown and missing fields in its message, between backticks.
fn field_in_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// The component types a pipeline file may use, by role and `type` name (a source and a sink
/// may share a name, such as `file`).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: BTreeMap<(Role, &'static str), Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds component type `C`.
    #[must_use]
    pub fn with<C: Component>(mut self) -> Self {
        self.entries.insert(
            (C::ROLE, C::TYPE),
            Entry { type_name: C::TYPE, role: C::ROLE, description: C::DESCRIPTION, example: C::EXAMPLE, parse: parse::<C> },
        );
        self
    }

    /// Adds every entry of `other`.
    #[must_use]
    pub fn merge(mut self, other: Registry) -> Self {
        self.entries.extend(other.entries);
        self
    }

    /// The entry for `type_name` in `role`.
    pub fn get(&self, role: Role, type_name: &str) -> Option<&Entry> {
        self.entries.iter().find(|((r, t), _)| *r == role && *t == type_name).map(|(_, e)| e)
    }

    /// The roles that have a type called `type_name`.
    pub fn roles_of(&self, type_name: &str) -> Vec<Role> {
        self.entries.keys().filter(|(_, t)| *t == type_name).map(|(r, _)| *r).collect()
    }

    /// Problems with the registered examples: each must be TOML, deserialise and validate.
    /// Crates that register components assert this is empty, so examples cannot rot (Cargo
    /// feature `test-util`).
    #[cfg(feature = "test-util")]
    pub fn example_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for entry in self.entries() {
            let name = format!("{} `{}`", entry.role.section(), entry.type_name);
            match toml::from_str::<toml::Value>(entry.example) {
                Err(e) => problems.push(format!("{name}: example is not TOML: {e}")),
                Ok(fields) => match entry.parse(fields) {
                    Err(e) => problems.push(format!("{name}: example does not deserialise: {}", e.message)),
                    Ok(config) => problems.extend(config.validate().into_iter().map(|p| format!("{name}: example is invalid: {p}"))),
                },
            }
        }
        problems
    }

    /// Every entry, sorted by role and type name.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_out_of_serde_messages() {
        assert_eq!(field_in_message("unknown field `colour`, expected one of `a`"), Some("colour".into()));
        assert_eq!(field_in_message("invalid type"), None);
    }
}
