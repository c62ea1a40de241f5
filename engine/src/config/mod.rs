//! Pipeline files: TOML text → node specifications, with every problem collected and located.
//!
//! ```toml
//! [pipeline]            # optional; every field has a default
//! capacity = 8          # batches per edge
//! batch_size = 128      # messages per batch, at most
//!
//! [sources.chat]
//! type = "generator"
//! count = 1000
//!
//! [blocks.chatter]
//! type = "filter"
//! inputs = ["chat"]
//! condition = '.kind == "chat"'
//!
//! [sinks.out]
//! type = "stdout"
//! inputs = ["chatter", { from = "chatter.errors", capacity = 2 }]
//! ```

mod diagnostic;
mod interpolate;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub(crate) use diagnostic::SourceMap;
pub use diagnostic::{Diagnostic, Location, Severity, ValidationError};

use crate::channel::{DEFAULT_BATCH_SIZE, DEFAULT_EDGE_CAPACITY, MAX_BATCH_SIZE, WhenFull, edge_size_problem};
use crate::component::{BlockConfig, Role};
use crate::output::OnError;
use crate::registry::Registry;

/// Pipeline-wide settings, the `[pipeline]` table.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// Batches each edge holds before its sender waits (see [`DEFAULT_EDGE_CAPACITY`]); times
    /// `batch_size`, at most [`MAX_EDGE_MESSAGES`](crate::MAX_EDGE_MESSAGES).
    pub capacity: NonZeroUsize,
    /// Messages a source puts in one batch, at most (see [`DEFAULT_BATCH_SIZE`]); at most
    /// [`MAX_BATCH_SIZE`].
    pub batch_size: NonZeroUsize,
    /// What senders do when an edge is full; `block` (backpressure) unless an edge says otherwise.
    pub when_full: WhenFull,
    /// Run each line of function blocks (every one the only reader of the previous) as one
    /// task, handing batches on without a channel. On by default; metrics stay per block.
    pub chain: bool,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self { capacity: DEFAULT_EDGE_CAPACITY, batch_size: DEFAULT_BATCH_SIZE, when_full: WhenFull::Block, chain: true }
    }
}

impl PipelineSettings {
    /// Every problem with the settings, with the field each is about: a `batch_size` above
    /// [`MAX_BATCH_SIZE`], or edges that would hold more than [`MAX_EDGE_MESSAGES`](crate::MAX_EDGE_MESSAGES) messages.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        if self.batch_size.get() > MAX_BATCH_SIZE {
            return vec![("batch_size", format!("`batch_size` = {} is more than the {MAX_BATCH_SIZE} messages a batch may hold", self.batch_size))];
        }
        edge_size_problem(self.capacity, self.batch_size).map(|problem| ("capacity", problem)).into_iter().collect()
    }
}

/// One entry of a node's `inputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InputSpec {
    /// The upstream node.
    pub node: String,
    /// The upstream port; `None` means its default port.
    pub port: Option<String>,
    /// This edge's capacity in batches, overriding the pipeline's.
    pub capacity: Option<NonZeroUsize>,
    /// This edge's policy when full, overriding the pipeline's.
    pub when_full: Option<WhenFull>,
    /// Where the input is written.
    pub location: Option<Location>,
}

impl InputSpec {
    /// Parses `node` or `node.port`.
    pub(crate) fn parse(reference: &str) -> Self {
        let (node, port) = match reference.split_once('.') {
            Some((node, port)) => (node.to_owned(), Some(port.to_owned())),
            None => (reference.to_owned(), None),
        };
        Self { node, port, capacity: None, when_full: None, location: None }
    }
}

/// A node, parsed and typed, before graph checks.
#[derive(Debug)]
pub(crate) struct NodeSpec {
    /// Its unique name.
    pub name: String,
    /// Source, block or sink.
    pub role: Role,
    /// Its `type`.
    pub type_name: String,
    /// Its typed configuration.
    pub config: Box<dyn BlockConfig>,
    /// What it reads.
    pub inputs: Vec<InputSpec>,
    /// What it does with failed messages nobody reads.
    pub on_error: OnError,
    /// Where it is declared.
    pub location: Option<Location>,
    /// Where the values of its own fields are written, by field name (empty for nodes made in
    /// code).
    pub field_locations: BTreeMap<String, Location>,
    /// Whether its type and configuration were valid. Invalid nodes stay in the graph so that
    /// the graph rules still run on their neighbours; their ports are not checked.
    pub checked: bool,
}

/// Stands in for the configuration of a node whose type or fields were invalid.
#[derive(Debug)]
pub(crate) struct Unchecked;

#[async_trait::async_trait]
impl BlockConfig for Unchecked {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    async fn build(&self, _cx: &crate::component::BuildContext) -> Result<crate::component::BuiltBlock, crate::error::BuildError> {
        Err(crate::error::BuildError::Invalid("this node's configuration is invalid".into()))
    }
}

/// A parsed pipeline file: its settings and nodes, not yet checked as a graph.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    pub(crate) settings: PipelineSettings,
    pub(crate) nodes: Vec<NodeSpec>,
}

type Fields = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDoc {
    #[serde(default)]
    pipeline: Fields,
    #[serde(default)]
    sources: BTreeMap<Spanned<String>, Fields>,
    #[serde(default)]
    blocks: BTreeMap<Spanned<String>, Fields>,
    #[serde(default)]
    sinks: BTreeMap<Spanned<String>, Fields>,
}

/// Parses pipeline `text` into typed nodes, collecting every problem it can find.
pub(crate) fn parse(
    text: &str,
    file: Option<PathBuf>,
    registry: &Registry,
    env: impl Fn(&str) -> Option<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ParsedFile> {
    let original = SourceMap::new(file.clone(), text);
    let text = match interpolate::interpolate(text, env) {
        Ok(text) => text,
        Err(errors) => {
            diagnostics.extend(errors.into_iter().map(|e| Diagnostic::error(Some(original.locate(e.offset)), None, e.problem.to_string())));
            return None;
        }
    };
    let base_dir = file.as_deref().map(|file| file.parent().map(Path::to_owned).unwrap_or_default());
    let map = SourceMap::new(file, &text);
    let doc: RawDoc = match toml::from_str(&text) {
        Ok(doc) => doc,
        Err(error) => {
            let message = error.message().trim();
            let diagnostic = match error.span() {
                Some(span) => Diagnostic::error(Some(map.locate(span.start)), None, message),
                // The position says what the text is about; without one, the message must.
                None => Diagnostic::error(None, None, format!("the file is not valid TOML: {message}")),
            };
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let cx = FileContext { map: &map, registry, base_dir: base_dir.as_deref() };
    let settings = cx.settings(doc.pipeline, diagnostics);
    let mut nodes = Vec::new();
    for (role, section) in [(Role::Source, doc.sources), (Role::Transform, doc.blocks), (Role::Sink, doc.sinks)] {
        for (name, fields) in section {
            if let Some(node) = cx.node(role, name, fields, diagnostics) {
                nodes.push(node);
            }
        }
    }
    Some(ParsedFile { settings, nodes })
}

struct FileContext<'a> {
    map: &'a SourceMap,
    registry: &'a Registry,
    /// The pipeline file's folder, when it was read from one.
    base_dir: Option<&'a Path>,
}

impl FileContext<'_> {
    fn at<T>(&self, spanned: &Spanned<T>) -> Option<Location> {
        Some(self.map.locate(spanned.span().start))
    }

    fn settings(&self, fields: Fields, diagnostics: &mut Vec<Diagnostic>) -> PipelineSettings {
        let spans: BTreeMap<String, Option<Location>> = fields.keys().map(|k| (k.get_ref().clone(), self.at(k))).collect();
        let values: BTreeMap<String, Option<Location>> = fields.iter().map(|(k, v)| (k.get_ref().clone(), self.at(v))).collect();
        let table: toml::Table = fields.into_iter().map(|(k, v)| (k.into_inner(), v.into_inner())).collect();
        match serde_path_to_error::deserialize::<_, PipelineSettings>(toml::Value::Table(table)) {
            Ok(settings) => {
                for (field, problem) in settings.problems() {
                    diagnostics.push(Diagnostic::error(values.get(field).cloned().flatten(), None, format!("[pipeline] {problem}")));
                }
                settings
            }
            Err(error) => {
                let field = error.path().to_string();
                let message = error.into_inner().to_string();
                let location = spans.get(&field).cloned().flatten();
                diagnostics.push(Diagnostic::error(location, None, format!("[pipeline] {message}")));
                PipelineSettings::default()
            }
        }
    }

    fn node(&self, role: Role, name: Spanned<String>, mut fields: Fields, diagnostics: &mut Vec<Diagnostic>) -> Option<NodeSpec> {
        let location = self.at(&name);
        let name = name.into_inner();
        let mut ok = true;
        let mut error = |location: Option<Location>, message: String| {
            diagnostics.push(Diagnostic::error(location, Some(&name), message));
        };
        let type_field = self.take(&mut fields, "type").map(|(at, value)| (self.at(&at), value));
        let inputs_field = self.take(&mut fields, "inputs");
        let on_error_field = self.take(&mut fields, "on_error").map(|(at, value)| (self.at(&at), value));

        let entry = match &type_field {
            None => {
                error(location.clone(), format!("missing field `type` (one of: {})", self.known(role)));
                None
            }
            Some((at, toml::Value::String(type_name))) => match self.registry.get(role, type_name) {
                Some(entry) => Some(entry),
                None => {
                    let elsewhere = self.registry.roles_of(type_name);
                    let message = match elsewhere.first() {
                        Some(other) => format!("`{type_name}` belongs in [{}], not [{}]", other.section(), role.section()),
                        None => format!("unknown {} type `{type_name}` (known: {})", role.noun(), self.known(role)),
                    };
                    error(at.clone(), message);
                    None
                }
            },
            Some((at, _)) => {
                error(at.clone(), "`type` must be a string".into());
                None
            }
        };

        let inputs = match inputs_field {
            None => Vec::new(),
            Some((span, value)) => match parse_inputs(value, self.item_locations(&span), self.at(&span)) {
                Ok(inputs) => inputs,
                Err(message) => {
                    ok = false;
                    error(self.at(&span), message);
                    Vec::new()
                }
            },
        };

        let on_error = match on_error_field {
            None => OnError::default(),
            Some((at, value)) => match OnError::deserialize(value) {
                Ok(policy) => policy,
                Err(e) => {
                    ok = false;
                    error(at, format!("`on_error`: {e}"));
                    OnError::default()
                }
            },
        };

        let unchecked = |type_name: String, inputs, on_error| NodeSpec {
            name: name.clone(),
            role,
            type_name,
            config: Box::new(Unchecked),
            inputs,
            on_error,
            location: location.clone(),
            field_locations: BTreeMap::new(),
            checked: false,
        };
        let Some(entry) = entry else {
            let type_name = match type_field {
                Some((_, toml::Value::String(t))) => t,
                _ => "?".to_owned(),
            };
            return Some(unchecked(type_name, inputs, on_error));
        };
        // Unknown fields are pointed at by their key, bad values by the value.
        let spans: BTreeMap<String, (Option<Location>, Option<Location>)> =
            fields.iter().map(|(k, v)| (k.get_ref().clone(), (self.at(k), self.at(v)))).collect();
        let table: toml::Table = fields.into_iter().map(|(k, v)| (k.into_inner(), v.into_inner())).collect();
        let config = match entry.parse(toml::Value::Table(table)) {
            Ok(config) => config,
            Err(e) => {
                let key_or_value = |(key, value): &(Option<Location>, Option<Location>)| {
                    if e.message.starts_with("unknown field") { key.clone() } else { value.clone() }
                };
                let field_location = e.field.as_ref().and_then(|f| spans.get(f.split(['.', '[']).next().unwrap_or(f))).and_then(key_or_value);
                error(field_location.or(location.clone()), e.message);
                return Some(unchecked(entry.type_name.to_owned(), inputs, on_error));
            }
        };
        let files = self.base_dir.map(|dir| config.validate_files(dir)).unwrap_or_default();
        for problem in config.validate().into_iter().chain(files) {
            ok = false;
            let field = problem_field(&problem).and_then(|field| spans.get(field)).and_then(|(_, value)| value.clone());
            error(field.or(location.clone()), problem);
        }
        let type_name = entry.type_name.to_owned();
        let field_locations = spans.into_iter().filter_map(|(field, (_, value))| Some((field, value?))).collect();
        Some(NodeSpec { name, role, type_name, config, inputs, on_error, location, field_locations, checked: ok })
    }

    /// Removes `key` from `fields`, with the span of its value.
    fn take(&self, fields: &mut Fields, key: &str) -> Option<(Spanned<()>, toml::Value)> {
        let key = fields.keys().find(|k| k.get_ref() == key)?.clone();
        let value = fields.remove(&key)?;
        Some((Spanned::new(value.span(), ()), value.into_inner()))
    }

    /// Where each item of the array written at `array` starts, if it is an array. The parsed
    /// values keep no positions, so the array's text is parsed again on its own.
    fn item_locations(&self, array: &Spanned<()>) -> Vec<Location> {
        #[derive(Deserialize)]
        struct Items {
            v: Vec<Spanned<toml::Value>>,
        }
        const PREFIX: &str = "v = ";
        let Some(text) = self.map.text().get(array.span()) else { return Vec::new() };
        let Ok(items) = toml::from_str::<Items>(&format!("{PREFIX}{text}")) else { return Vec::new() };
        items.v.iter().map(|item| self.map.locate(array.span().start + item.span().start - PREFIX.len())).collect()
    }

    fn known(&self, role: Role) -> String {
        let names: Vec<&str> = self.registry.entries().filter(|e| e.role == role).map(|e| e.type_name).collect();
        names.join(", ")
    }
}

/// The top-level field a validation problem names first, as in `` `topics`: ... `` or
/// `` `window.size` must ... ``.
fn problem_field(problem: &str) -> Option<&str> {
    let name = problem.strip_prefix('`')?.split('`').next()?;
    let field = name.split(['.', ' ', '=']).next()?;
    (!field.is_empty()).then_some(field)
}

/// `inputs` entries: `"node"`, `"node.port"` or `{ from = "node.port", capacity = 4, when_full = "block" }`,
/// each located at `items`, in order, or else at the whole list's `location`.
fn parse_inputs(value: toml::Value, items: Vec<Location>, location: Option<Location>) -> Result<Vec<InputSpec>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Edge {
        from: String,
        capacity: Option<NonZeroUsize>,
        when_full: Option<WhenFull>,
    }
    let toml::Value::Array(entries) = value else {
        return Err("`inputs` must be a list of node names".into());
    };
    let mut locations = items.into_iter();
    entries
        .into_iter()
        .map(|item| {
            let mut spec = match item {
                toml::Value::String(reference) => InputSpec::parse(&reference),
                table @ toml::Value::Table(_) => {
                    let edge = Edge::deserialize(table).map_err(|e| format!("`inputs`: {e}"))?;
                    InputSpec { capacity: edge.capacity, when_full: edge.when_full, ..InputSpec::parse(&edge.from) }
                }
                other => return Err(format!("`inputs` entries must be strings or tables, not {}", other.type_str())),
            };
            spec.location = locations.next().or_else(|| location.clone());
            Ok(spec)
        })
        .collect()
}
