//! `runnel jq PROGRAM [FILE]`: a jq program over NDJSON, as `jq -c` runs it, so that a program
//! can be tried before it goes into a pipeline.
//!
//! The program does not run beside the blocks but inside one: the command builds the pipeline
//! `stdin` (or `file`) → `map` → `stdout`, so the lines are read, the numbers kept, the program
//! compiled and run, its errors worded and its outputs written exactly as a pipeline does. The
//! failed messages (a program's error, a line that is not JSON) go from both nodes' `errors`
//! ports to a `memory` sink, which the command reads to print each one on stderr with its line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runnel::blocks::{JqProgram, Limits, MapConfig};
use runnel::connectors::{FileSourceConfig, MemorySinkConfig, StdinConfig, StdoutConfig};
use runnel::{MemoryOutput, Message, Pipeline, PipelineBuilder};

/// Exit code when the program does not compile (jq's for a compile error).
const EXIT_COMPILE: u8 = 3;

/// Exit code when the input cannot be read or the pipeline cannot start (jq's for a usage or
/// system error).
const EXIT_INPUT: u8 = 2;

/// Exit code when some input failed: the program raised an error on it, or it is not JSON
/// (jq's for a program that halted with an error).
const EXIT_FAILED: u8 = 5;

/// The name of the `map` block running the program.
const BLOCK: &str = "jq";

/// Options of `runnel jq`.
#[derive(Debug, clap::Args)]
pub(crate) struct JqArgs {
    /// The jq program, as a `map` block's `program` holds it (`-1` and `-.a` are programs).
    #[arg(allow_hyphen_values = true)]
    program: String,
    /// The NDJSON file to read, one JSON value a line (default: standard input).
    file: Option<PathBuf>,
    /// How long the program may run on one line, in milliseconds, as a block's `timeout_ms`
    /// (default: the blocks' 1000).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// The most memory the program may hold while it runs on one line, in MiB, as a block's
    /// `max_memory_mb` (default: the blocks' 64).
    #[arg(long)]
    max_memory_mb: Option<u64>,
}

impl JqArgs {
    /// The limits of each evaluation: the blocks' own, changed where the options say.
    fn limits(&self) -> Limits {
        let blocks = Limits::default();
        Limits {
            time: self.timeout_ms.map_or(blocks.time, std::time::Duration::from_millis),
            memory: self.max_memory_mb.map_or(blocks.memory, |mb| mb.saturating_mul(1024 * 1024)),
        }
    }
}

/// Runs `args.program` over every line of the input, printing its outputs one a line on stdout
/// and each failure on stderr.
pub(crate) fn jq(args: JqArgs) -> ExitCode {
    let program = match JqProgram::new(args.program.as_str()) {
        Ok(program) => program.with_limits(args.limits()),
        Err(error) => {
            eprintln!("runnel jq: {error}");
            return ExitCode::from(EXIT_COMPILE);
        }
    };
    let (failed, failures) = MemorySinkConfig::channel();
    let pipeline = match pipeline(program, args.file.as_deref(), failed) {
        Ok(pipeline) => pipeline,
        Err(error) => {
            eprintln!("runnel jq: {error}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let runtime = match crate::run::runtime(None) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runnel jq: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(pipeline, failures));
    // A read blocked on a quiet standard input must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// `input` (stdin, or `file`) → `jq` (a `map` block running `program`) → `out` (stdout), with
/// the failures of `input` and `jq` into `failed`.
fn pipeline(program: JqProgram, file: Option<&Path>, failed: MemorySinkConfig) -> Result<Pipeline, String> {
    let builder = PipelineBuilder::new();
    let builder = match file {
        None => builder.source("input", StdinConfig::default()),
        Some(file) => builder.source("input", file_source(file)?),
    };
    builder
        .block(BLOCK, ["input"], MapConfig { program })
        .sink("out", [BLOCK], StdoutConfig {})
        .sink("failed", ["input.errors", "jq.errors"], failed)
        .build()
        .map_err(|error| error.to_string())
}

/// A `file` source reading `file` once from its beginning, without checkpoints.
fn file_source(file: &Path) -> Result<FileSourceConfig, String> {
    let path = std::path::absolute(file).map_err(|error| format!("{}: {error}", file.display()))?;
    if !path.is_file() {
        return Err(format!("{}: no such file", file.display()));
    }
    // The path is taken literally, not as a glob pattern.
    let literal = glob_escaped(&path.to_string_lossy());
    let config = serde_json::json!({ "path": literal, "checkpoints": false });
    serde_json::from_value(config).map_err(|error| format!("{}: {error}", file.display()))
}

/// `path` with the characters a glob pattern gives a meaning to put in brackets.
fn glob_escaped(path: &str) -> String {
    path.chars().map(|c| if matches!(c, '*' | '?' | '[' | ']') { format!("[{c}]") } else { c.to_string() }).collect()
}

/// Starts the pipeline, prints every failure as it comes, and says how the run went.
async fn run(pipeline: Pipeline, mut failures: MemoryOutput) -> ExitCode {
    let running = match pipeline.start().await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("runnel jq: {error}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let report = async {
        let mut failed = false;
        while let Some(record) = failures.recv().await {
            eprintln!("runnel jq: {}", describe(&record));
            failed = true;
        }
        failed
    };
    let (failed, finished) = tokio::join!(report, running.wait());
    if let Err(error) = finished {
        eprintln!("runnel jq: {error}");
        return ExitCode::from(EXIT_INPUT);
    }
    if failed { ExitCode::from(EXIT_FAILED) } else { ExitCode::SUCCESS }
}

/// An error record as one line: the program's errors as `line 3: jq error: ...`; the source's
/// already say where (`stdin:3: invalid JSON: ...`).
fn describe(record: &Message) -> String {
    let value = record.value();
    let error = value["error"].as_str().unwrap_or("failed");
    match value["origin"]["offset"].as_u64() {
        Some(line) if value["node"] == BLOCK => format!("line {line}: {error}"),
        _ => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_taken_literally() {
        assert_eq!(glob_escaped("/tmp/a[1]*.ndjson"), "/tmp/a[[]1[]][*].ndjson");
        assert_eq!(glob_escaped("/plain/{path}.ndjson"), "/plain/{path}.ndjson");
    }
}
