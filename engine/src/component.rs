//! Configurations that build blocks, and the registry that maps a pipeline file's `type` to them.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::block::Block;
use crate::error::BuildError;
use crate::output::DEFAULT_PORT;

/// What part a node plays in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Produces messages; has no inputs.
    Source,
    /// Consumes and produces messages.
    Transform,
    /// Consumes messages and delivers them outside; has only the `errors` output.
    Sink,
}

impl Role {
    /// The pipeline file section of this role: `sources`, `blocks` or `sinks`.
    pub fn section(self) -> &'static str {
        match self {
            Self::Source => "sources",
            Self::Transform => "blocks",
            Self::Sink => "sinks",
        }
    }
}

/// Something only one node of a pipeline may use (a file written, a port bound, stdin).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    /// What kind of thing: `file`, `listen`, `stdin`...
    pub kind: &'static str,
    /// Which one: a path, an address.
    pub id: String,
}

impl Resource {
    /// A resource of `kind` named `id`.
    pub fn new(kind: &'static str, id: impl Into<String>) -> Self {
        Self { kind, id: id.into() }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind, self.id)
    }
}

/// Handles shared between the pipeline and the program that runs it, by name: how a library
/// user reaches a `memory` source's sender or a `memory` sink's receiver.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    inner: Arc<Mutex<HashMap<String, Box<dyn Any + Send>>>>,
}

impl Resources {
    /// Stores `value` under `key`, replacing what was there.
    pub fn insert<T: Any + Send>(&self, key: impl Into<String>, value: T) {
        self.lock().insert(key.into(), Box::new(value));
    }

    /// Takes the value stored under `key`, if there is one of type `T`.
    pub fn take<T: Any + Send>(&self, key: &str) -> Option<T> {
        let mut map = self.lock();
        let value = map.remove(key)?;
        match value.downcast::<T>() {
            Ok(value) => Some(*value),
            Err(value) => {
                map.insert(key.to_owned(), value);
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Box<dyn Any + Send>>> {
        // A panic while holding this lock leaves the map consistent (single inserts/removes).
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What [`BlockConfig::build`] may use.
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// The node's name.
    pub name: Arc<str>,
    /// The folder of the pipeline file: relative paths in a configuration are relative to it.
    pub base_dir: PathBuf,
    /// Handles shared with the program running the pipeline.
    pub resources: Resources,
}

impl BuildContext {
    /// `path` resolved against the pipeline file's folder.
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.base_dir.join(path) }
    }
}

/// A validated node configuration that can build its block.
#[async_trait]
pub trait BlockConfig: fmt::Debug + Send + Sync + 'static {
    /// The node's output ports besides `errors`, the first being the default. Sinks have none,
    /// whatever this returns.
    fn outputs(&self) -> Vec<String> {
        vec![DEFAULT_PORT.to_owned()]
    }

    /// Things only this node may use, checked across the pipeline before it starts.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    /// Checks what deserialisation cannot (ranges, expressions); every problem at once.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }

    /// Builds the block. Opens files and binds ports, but spawns nothing: the engine runs the
    /// returned block.
    ///
    /// # Errors
    /// [`BuildError`] when a file cannot be opened or a port bound.
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Block>, BuildError>;
}

/// A configuration from [`Entry::parse`] can be given to [`crate::PipelineBuilder`] as it is.
#[async_trait]
impl BlockConfig for Box<dyn BlockConfig> {
    fn outputs(&self) -> Vec<String> {
        (**self).outputs()
    }

    fn resources(&self) -> Vec<Resource> {
        (**self).resources()
    }

    fn validate(&self) -> Vec<String> {
        (**self).validate()
    }

    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Block>, BuildError> {
        (**self).build(cx).await
    }
}

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
    /// Crates that register components assert this is empty, so examples cannot rot.
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
    fn resources_hand_values_over_by_type() {
        let resources = Resources::default();
        resources.insert("a", 5_u32);
        assert_eq!(resources.take::<String>("a"), None);
        assert_eq!(resources.take::<u32>("a"), Some(5));
        assert_eq!(resources.take::<u32>("a"), None);
    }

    #[test]
    fn field_names_come_out_of_serde_messages() {
        assert_eq!(field_in_message("unknown field `colour`, expected one of `a`"), Some("colour".into()));
        assert_eq!(field_in_message("invalid type"), None);
    }
}
