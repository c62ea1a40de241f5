//! The `function` block's configuration and its checks.

use std::path::PathBuf;

use runnel_engine::Span;
use serde::Deserialize;

use crate::modules::{AllowedHost, FetchRules};
use crate::shape::Shape;

/// The `function` block: a JavaScript handler run per message.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// The handler module's text: `export default (event, meta) => ...`.
    #[serde(default)]
    pub code: Option<String>,
    /// Instead of `code`: the module's file, relative to the pipeline file; its folder is where
    /// it may import other modules from.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Named output ports a handler may send to with `{port, message}`, besides `out`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Wall time one invocation may take (running or waiting); past it the message fails.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Memory the handler's runtime may hold, in MiB; an allocation past it fails the message.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: usize,
    /// Messages one invocation may return, at most; more fails the message.
    #[serde(default = "default_max_outputs")]
    pub max_outputs: usize,
    /// How the handler is written (`event`, `lambda`, PubNub's `before_publish`,
    /// `after_publish`, `on_interval`, `on_request`); unset: a default export is an `event`
    /// handler, else a `handler` export a Lambda one.
    #[serde(default)]
    pub shape: Option<Shape>,
    /// `process.env` for the handler, as Lambda functions get their configuration (values may
    /// use the pipeline file's `${VAR}` interpolation).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Threads running the handler, each with its own engine (and its own module state, as
    /// warm Lambda containers have); results keep the input's order. Unset: one per CPU core.
    #[serde(default)]
    pub workers: Option<usize>,
    /// The `kvstore` module's SQLite file, relative to the pipeline file. By default
    /// `kvstore.sqlite` in the pipeline's state folder (`.runnel/<pipeline>/`), shared by every
    /// block of the pipeline that keeps the default; a pipeline not read from a file keeps its
    /// store in memory, shared by the process.
    #[serde(default)]
    pub kvstore: Option<PathBuf>,
    /// Fetches one invocation may start (`fetch`, `xhr.fetch`); past them a fetch rejects.
    #[serde(default = "default_max_fetches")]
    pub max_fetches: usize,
    /// The hosts `fetch` may reach: `"api.example.com"` (any port) or `"127.0.0.1:8080"`;
    /// empty, any host. Redirects are held to the same list.
    #[serde(default)]
    pub fetch_hosts: Vec<String>,
}

pub(crate) fn default_max_fetches() -> usize {
    10
}

/// The most `workers` a block may have.
pub const MAX_WORKERS: usize = 64;

fn default_timeout() -> Span {
    Span::from_millis(1_000)
}

fn default_memory_mib() -> usize {
    64
}

fn default_max_outputs() -> usize {
    1_000
}

/// The port every handler's plain results go to.
pub(crate) const OUT: &str = "out";

impl FunctionConfig {
    /// Every problem with the configuration (the handler's own errors are found when it loads).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.code, &self.file) {
            (Some(_), Some(_)) => problems.push("give `code` or `file`, not both".to_owned()),
            (None, None) => problems.push("give the handler: `code` (a module's text) or `file`".to_owned()),
            _ => {}
        }
        for port in &self.ports {
            if port == OUT || port == "errors" || port.is_empty() {
                problems.push(format!("`ports`: `{port}` cannot be a named port (`out` and `errors` are there already)"));
            }
        }
        if self.timeout.duration().is_zero() {
            problems.push("`timeout` must be more than 0".to_owned());
        }
        if self.memory_mib == 0 {
            problems.push("`memory_mib` must be at least 1".to_owned());
        }
        if let Some(workers) = self.workers
            && !(1..=MAX_WORKERS).contains(&workers)
        {
            problems.push(format!("`workers` must be 1 to {MAX_WORKERS}, not {workers}"));
        }
        if self.max_outputs == 0 {
            problems.push("`max_outputs` must be at least 1".to_owned());
        }
        for host in &self.fetch_hosts {
            if let Err(error) = host.parse::<AllowedHost>() {
                problems.push(format!("`fetch_hosts`: {error}"));
            }
        }
        problems
    }

    /// The threads to run: `workers`, or one per CPU core.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)).clamp(1, MAX_WORKERS)
    }
}

impl FunctionConfig {
    /// What `fetch` may do, from `max_fetches`, `fetch_hosts` and `memory_mib` (the largest body).
    pub(crate) fn fetch_rules(&self) -> FetchRules {
        FetchRules::new(self.max_fetches, &self.fetch_hosts, self.memory_mib)
    }
}
