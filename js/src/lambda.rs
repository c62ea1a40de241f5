//! A JavaScript handler for the `lambda` block: Lambda's `export const handler = async (event,
//! context) => response`, invoked with each batch's event (`{"Records": [...]}`), answering with
//! Lambda's response shapes (`batchItemFailures`, a window's `state`). The `lambda` block (in
//! runnel-blocks, with its `js` feature) owns the event-source-mapping semantics; this runs the
//! function.

use std::path::PathBuf;

use runnel_engine::{BuildContext, BuildError, Message, Span};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::engine::{Failure, Limits, Source};
use crate::shape::{Invocation, Shape};
use crate::worker::Worker;

/// `handler = { type = "function", file = "index.mjs" }` in a `lambda` block (or `code`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaFunctionConfig {
    /// The handler module's text.
    #[serde(default)]
    pub code: Option<String>,
    /// Instead of `code`: the module's file, relative to the pipeline file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Wall time one invocation may take; past it the invocation fails (a function error, which
    /// the block retries or bisects). Lambda's default: 3 s.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Memory the handler's runtime may hold, in MiB (its context's `memoryLimitInMB`).
    #[serde(default = "default_memory_mib")]
    pub memory_mib: usize,
    /// `process.env` for the handler: its configuration, as Lambda's environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The `kvstore` module's file, as the `function` block's `kvstore`.
    #[serde(default)]
    pub kvstore: Option<PathBuf>,
    /// Fetches one invocation may start.
    #[serde(default = "crate::config::default_max_fetches")]
    pub max_fetches: usize,
    /// The hosts `fetch` may reach; empty, any.
    #[serde(default)]
    pub fetch_hosts: Vec<String>,
}

fn default_timeout() -> Span {
    Span::from_millis(3_000)
}

fn default_memory_mib() -> usize {
    128
}

impl LambdaFunctionConfig {
    /// Every problem with the configuration, a syntax error of inline `code` with its line and
    /// column among them.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.code, &self.file) {
            (Some(_), Some(_)) => problems.push("`handler`: give `code` or `file`, not both".to_owned()),
            (None, None) => problems.push("`handler`: give the function: `code` (a module's text) or `file`".to_owned()),
            (Some(code), None) => {
                if let Err(error) = crate::engine::compile("handler.code", code) {
                    problems.push(format!("`handler.code` does not compile: {error}"));
                }
            }
            (None, Some(_)) => {}
        }
        if self.timeout.duration().is_zero() {
            problems.push("`handler.timeout` must be more than 0".to_owned());
        }
        if self.memory_mib == 0 {
            problems.push("`handler.memory_mib` must be at least 1".to_owned());
        }
        for host in &self.fetch_hosts {
            if let Err(error) = host.parse::<crate::modules::AllowedHost>() {
                problems.push(format!("`handler.fetch_hosts`: {error}"));
            }
        }
        problems
    }

    /// The problems of a handler `file`, read from `base_dir`: it cannot be read or does not
    /// compile (with its line and column).
    pub fn file_problems(&self, base_dir: &std::path::Path) -> Vec<String> {
        match (&self.code, &self.file) {
            (None, Some(file)) => crate::engine::file_problems(base_dir, file, "handler.file"),
            _ => Vec::new(),
        }
    }

    /// Loads the handler on a thread of its own.
    ///
    /// # Errors
    /// The file cannot be read, the module does not load, or it exports no `handler` function.
    pub async fn start(&self, cx: &BuildContext) -> Result<LambdaFunction, BuildError> {
        let invocation = Invocation::new(&cx.name, self.memory_mib, self.timeout, self.env.clone());
        let modules = crate::modules::Modules::new(
            cx,
            self.kvstore.as_deref(),
            crate::modules::FetchRules::new(self.max_fetches, &self.fetch_hosts, self.memory_mib),
        );
        let source = Source::read(self.code.as_deref(), self.file.as_deref(), cx, Some(Shape::Lambda), invocation, modules)?;
        let limits = Limits { timeout: self.timeout.duration(), memory: self.memory_mib.saturating_mul(1024 * 1024), max_outputs: usize::MAX };
        let worker = Worker::start(&cx.name, 0, source, limits).await.map_err(BuildError::Invalid)?;
        Ok(LambdaFunction { worker, timeout: self.timeout })
    }
}

/// A loaded JavaScript Lambda handler.
pub struct LambdaFunction {
    worker: Worker,
    timeout: Span,
}

impl std::fmt::Debug for LambdaFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaFunction").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl LambdaFunction {
    /// Invokes the handler with `event` and waits for its response (`null` for `undefined`).
    ///
    /// # Errors
    /// What the handler threw or rejected with (with its stack), or that it ran past its
    /// timeout.
    pub async fn invoke(&self, event: Json) -> Result<Json, String> {
        let mut done = self.worker.run(vec![Message::new(event)]).await?;
        let Some((_, result)) = done.pop() else { return Err("the handler's thread gave no answer".to_owned()) };
        match result {
            Ok(response) => Ok(response.unwrap_or(Json::Null)),
            Err(Failure::Error(error)) => Err(error),
            Err(Failure::TimedOut { .. }) => Err(format!("the handler ran past its timeout of {}", self.timeout)),
        }
    }
}
