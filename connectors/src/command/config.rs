//! The `command` block's configuration and its checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use runnel_blocks::JqProgram;
use runnel_blocks::time::Span;
use serde::Deserialize;

use crate::field_path::FieldPath;
use crate::template::Template;

/// The `command` block: runs a program per message (a job: ffmpeg, a script, a converter).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program: a name looked up in `PATH`, or a path. With `shell = true`, a `sh` script.
    pub program: String,
    /// Its arguments, each a template filled from the message (`"{video.path}"`). A value becomes
    /// one whole argument, never split or interpreted by a shell: with `shell = true` the
    /// arguments are the script's `$1`, `$2`, ...
    #[serde(default)]
    pub args: Vec<Template>,
    /// Runs `program` as a `sh -c` script, with `args` as its positional parameters.
    #[serde(default)]
    pub shell: bool,
    /// What the program reads on standard input: a jq expression whose output is written (a
    /// string as its text, anything else as JSON); `"."` (the default) writes the message;
    /// `false` gives it nothing (standard input closed at once).
    #[serde(default)]
    pub stdin: StdinConfig,
    /// How its standard output becomes the result.
    #[serde(default)]
    pub output: OutputFormat,
    /// Where the result goes in the message: a dotted path (`result` by default).
    #[serde(default = "default_result_at")]
    pub result_at: FieldPath,
    /// Environment variables added to the runnel process's own.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The folder it runs in (relative to the pipeline file); runnel's own by default.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// How long a run may take before it is killed and its message fails (`"60s"` by default).
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Programs running at once, at most.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Whether messages leave in the order they came (true), or as their runs finish.
    #[serde(default = "default_ordered")]
    pub ordered: bool,
    /// Standard output kept, at most, in bytes; more fails the message (16 MiB by default).
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: usize,
}

/// What a program reads on standard input.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum StdinConfig {
    /// `false`: nothing. (`true` is the default, the message.)
    Enabled(bool),
    /// A jq expression of the message.
    From(JqProgram),
}

impl Default for StdinConfig {
    fn default() -> Self {
        Self::Enabled(true)
    }
}

/// How standard output becomes the result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// One JSON document (a run that prints nothing gives `null`).
    #[default]
    Json,
    /// The text, without its trailing newline (the path a job wrote, for instance).
    Text,
    /// Each line a JSON document: the result is their list.
    Ndjson,
    /// Nothing is read: the message passes on unchanged once the program succeeded.
    Ignore,
}

fn default_result_at() -> FieldPath {
    FieldPath::try_from("result".to_owned()).unwrap_or_else(|_| unreachable!("a valid path"))
}

fn default_timeout() -> Span {
    Span::from_millis(60_000)
}

fn default_concurrency() -> usize {
    2
}

fn default_ordered() -> bool {
    true
}

fn default_max_output_bytes() -> usize {
    16 << 20
}

impl CommandConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.program.trim().is_empty() {
            problems.push("`program` is empty".to_owned());
        }
        if self.timeout.millis() <= 0 {
            problems.push("`timeout` must be longer than 0".to_owned());
        }
        if self.concurrency == 0 || self.concurrency > 10_000 {
            problems.push(format!("`concurrency` must be between 1 and 10000, not {}", self.concurrency));
        }
        if self.max_output_bytes == 0 {
            problems.push("`max_output_bytes` must be at least 1".to_owned());
        }
        problems
    }
}
