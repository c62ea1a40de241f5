//! The `command` block (jobs): runs an external program per message, such as ffmpeg making a
//! size of a video. Its arguments are templates filled from the message, each value one whole
//! argument; no shell is involved unless `shell = true`, and then the values are the script's
//! positional parameters, never part of its text, so a field holding `; rm -rf /` is only an
//! argument. The message (or a jq expression of it) goes to standard input; standard output
//! becomes the result, set at `result_at`. A non-zero exit, a signal, a timeout or output that
//! does not parse fails the message with the program's standard error. The engine runs up to
//! `concurrency` programs at once ([`BuiltBlock::concurrent`]); a program still running when
//! its run is dropped (a timeout, or the pipeline stopping past its shutdown timeout) is killed.
//!
//! - [`config`]: [`CommandConfig`], its fields and their checks.
//! - `run`: one run of the program: spawn, feed, read, wait, kill.

pub mod config;
mod run;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge};
use runnel_engine::{AsyncFunctionBlock, BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, Message, Role, async_trait};
use serde_json::Value;

pub use self::config::{CommandConfig, OutputFormat, StdinConfig};
use self::run::{Job, Outcome};
use crate::template::Escape;

impl Component for CommandConfig {
    const TYPE: &'static str = "command";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Runs a program per message (arguments from templates, the message on standard input, no shell unless asked) and sets its output as the result.";
    const EXAMPLE: &'static str = r#"program = "ffprobe"
args = ["-v", "error", "-print_format", "json", "-show_format", "{path}"]
stdin = false
result_at = "probe"
timeout = "30s""#;
}

#[async_trait]
impl BlockConfig for CommandConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let limit = NonZeroUsize::new(self.concurrency).ok_or_else(|| BuildError::Other("`concurrency` must be at least 1".into()))?;
        let metrics = Metrics::register(cx);
        let block = CommandBlock {
            config: self.clone(),
            working_dir: self.working_dir.as_ref().map(|dir| cx.resolve(dir)),
            timeout: self.timeout.duration(),
            metrics,
        };
        Ok(BuiltBlock::concurrent(block, limit, self.ordered))
    }
}

/// Programs a `command` block ran, by outcome (`succeeded`, `failed`, `exit`, `timeout`, ...).
pub const RUNS: &str = "runnel_command_runs_total";
/// Programs of a `command` block running now.
pub const RUNNING: &str = "runnel_command_running";

/// The block's metrics: runs by outcome, and programs running now.
#[derive(Clone, Debug)]
struct Metrics {
    runs: IntCounterVec,
    node: String,
    running: IntGauge,
}

impl Metrics {
    fn register(cx: &BuildContext) -> Self {
        let runs = cx.metrics.counter_family(RUNS, "Programs a command block ran, by outcome.", &["node", "outcome"]);
        let running = cx.metrics.gauge_family(RUNNING, "Programs of a command block running now.", &["node"]).with_label_values(&[&*cx.name]);
        Self { runs, node: cx.name.to_string(), running }
    }

    fn outcome(&self, outcome: &str) {
        self.runs.with_label_values(&[self.node.as_str(), outcome]).inc();
    }
}

/// The running `command` block, shared by its runs.
#[derive(Debug)]
pub struct CommandBlock {
    config: CommandConfig,
    working_dir: Option<PathBuf>,
    timeout: Duration,
    metrics: Metrics,
}

impl CommandBlock {
    /// The job for `message`: its arguments and its standard input.
    fn job(&self, message: &Message) -> Result<Job, String> {
        let value = message.value();
        let mut args = Vec::with_capacity(self.config.args.len() + 2);
        for (index, template) in self.config.args.iter().enumerate() {
            let arg = template.render(value, Some(message.meta()), Escape::None).map_err(|e| format!("`args[{index}]`: {e}"))?;
            if arg.contains('\0') {
                return Err(format!("`args[{index}]` holds a NUL character, which no program argument can"));
            }
            args.push(arg);
        }
        let stdin = match &self.config.stdin {
            StdinConfig::Enabled(false) => None,
            StdinConfig::Enabled(true) => Some(serde_json::to_vec(value).map_err(|e| format!("`stdin`: {e}"))?),
            StdinConfig::From(program) => match program.run_first(value).map_err(|e| format!("`stdin`: {e}"))? {
                None => None,
                Some(Value::String(text)) => Some(text.into_bytes()),
                Some(other) => Some(serde_json::to_vec(&other).map_err(|e| format!("`stdin`: {e}"))?),
            },
        };
        Ok(Job { args, stdin })
    }

    /// The result `stdout` gives, as `output` says.
    fn result(&self, stdout: &[u8]) -> Result<Option<Value>, String> {
        let text = || std::str::from_utf8(stdout).map_err(|_| "its output is not UTF-8 text".to_owned());
        Ok(match self.config.output {
            OutputFormat::Ignore => None,
            OutputFormat::Text => {
                let text = text()?;
                Some(Value::String(text.strip_suffix('\n').unwrap_or(text).trim_end_matches('\r').to_owned()))
            }
            OutputFormat::Json if stdout.iter().all(u8::is_ascii_whitespace) => Some(Value::Null),
            OutputFormat::Json => Some(serde_json::from_slice(stdout).map_err(|e| format!("its output is not one JSON document: {e}"))?),
            OutputFormat::Ndjson => Some(Value::Array(
                text()?
                    .lines()
                    .enumerate()
                    .filter(|(_, line)| !line.trim().is_empty())
                    .map(|(n, line)| serde_json::from_str(line).map_err(|e| format!("line {} of its output is not JSON: {e}", n + 1)))
                    .collect::<Result<_, _>>()?,
            )),
        })
    }
}

#[async_trait]
impl AsyncFunctionBlock for CommandBlock {
    async fn process(&self, mut message: Message, out: &mut Emitter) {
        let job = match self.job(&message) {
            Ok(job) => job,
            Err(error) => {
                self.metrics.outcome("invalid");
                return out.fail(message, error);
            }
        };
        self.metrics.running.inc();
        let outcome = run::run(&self.config, self.working_dir.as_deref(), self.timeout, job).await;
        self.metrics.running.dec();
        match outcome {
            Outcome::Done { stdout } => match self.result(&stdout) {
                Ok(result) => {
                    if let Some(result) = result
                        && let Err(error) = self.config.result_at.set(message.value_mut(), result)
                    {
                        self.metrics.outcome("failed");
                        return out.fail(message, error);
                    }
                    self.metrics.outcome("succeeded");
                    out.emit(message);
                }
                Err(error) => {
                    self.metrics.outcome("failed");
                    out.fail(message, format!("`{}`: {error}", self.config.program));
                }
            },
            Outcome::Failed(error) => {
                self.metrics.outcome(error.outcome());
                out.fail(message, format!("`{}`: {error}", self.config.program));
            }
        }
    }
}
