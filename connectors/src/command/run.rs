//! One run of a `command` block's program: spawned without a shell (or as `sh -c` with the
//! arguments as positional parameters), its standard input written while its output is read,
//! killed when the timeout passes or when the run is dropped.

use std::fmt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::config::CommandConfig;

/// Standard error kept for a failure's message, at most.
const STDERR_EXCERPT: usize = 2048;

/// What one message asks of the program.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) args: Vec<String>,
    pub(super) stdin: Option<Vec<u8>>,
}

/// How a run ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// It exited with status 0.
    Done { stdout: Vec<u8> },
    /// It did not succeed.
    Failed(RunError),
}

/// Why a run did not succeed.
#[derive(Debug)]
pub(super) enum RunError {
    /// It could not be started (not found, not executable, a bad working folder).
    Spawn(std::io::Error),
    /// It exited with another status than 0, or was ended by a signal.
    Exit { status: ExitStatus, stderr: String },
    /// It ran past the timeout and was killed.
    Timeout { after: Duration },
    /// Its output passed `max_output_bytes`; it was killed.
    TooMuchOutput { limit: usize },
    /// Reading or writing its pipes failed.
    Io(std::io::Error),
}

impl RunError {
    /// The outcome label of the runs metric.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            Self::Spawn(_) => "spawn_error",
            Self::Exit { .. } => "exit",
            Self::Timeout { .. } => "timeout",
            Self::TooMuchOutput { .. } => "too_much_output",
            Self::Io(_) => "io_error",
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stderr = |f: &mut fmt::Formatter<'_>, text: &str| if text.is_empty() { Ok(()) } else { write!(f, "; standard error: {text}") };
        match self {
            Self::Spawn(error) => write!(f, "cannot start it: {error}"),
            Self::Exit { status, stderr: text } => {
                match status.code() {
                    Some(code) => write!(f, "exited with status {code}")?,
                    None => write!(f, "ended by a signal ({status})")?,
                }
                stderr(f, text)
            }
            Self::Timeout { after } => write!(f, "killed after running {} ms, its timeout", after.as_millis()),
            Self::TooMuchOutput { limit } => write!(f, "killed: its output passed `max_output_bytes` ({limit} bytes)"),
            Self::Io(error) => write!(f, "reading or writing its pipes failed: {error}"),
        }
    }
}

/// Runs the program for `job`.
pub(super) async fn run(config: &CommandConfig, working_dir: Option<&Path>, timeout: Duration, job: Job) -> Outcome {
    let mut command = if config.shell {
        // The script is the configuration's; the message's values are only `$1`, `$2`, ...
        let mut command = Command::new("sh");
        command.arg("-c").arg(&config.program).arg("runnel").args(&job.args);
        command
    } else {
        let mut command = Command::new(&config.program);
        command.args(&job.args);
        command
    };
    command
        .envs(&config.env)
        .stdin(if job.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(if config.output == super::OutputFormat::Ignore { Stdio::null() } else { Stdio::piped() })
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group: a Ctrl-C at runnel's terminal stops runnel's sources, and the job
    // finishes while the pipeline drains instead of dying with the terminal's signal.
    #[cfg(unix)]
    command.process_group(0);
    if let Some(dir) = working_dir {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return Outcome::Failed(RunError::Spawn(error)),
    };
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let limit = config.max_output_bytes;
    let work = async {
        let feed = async {
            if let (Some(mut pipe), Some(bytes)) = (stdin, job.stdin.as_deref()) {
                // A program that exits without reading all of it closes the pipe: not an error.
                match pipe.write_all(bytes).await {
                    Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => return Err(error),
                    _ => {}
                }
            }
            Ok(())
        };
        let out = async {
            let read = read_capped(stdout, limit, false).await;
            if matches!(read, Ok((_, true))) {
                // Past the cap: killed at once, not left to run until its next write fails.
                let _ = child.start_kill();
            }
            read
        };
        let (fed, out, err) = tokio::join!(feed, out, read_capped(stderr, STDERR_EXCERPT, true));
        let status = child.wait().await;
        (fed, out, err, status)
    };
    let (fed, out, err, status) = match tokio::time::timeout(timeout, work).await {
        Ok(done) => done,
        Err(_) => {
            // `work` is dropped: the pipes close and `kill_on_drop` ends the program; make sure.
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Outcome::Failed(RunError::Timeout { after: timeout });
        }
    };
    let (stdout, stdout_full) = match out {
        Ok(read) => read,
        Err(error) => return Outcome::Failed(RunError::Io(error)),
    };
    let stderr = err.map(|(bytes, _)| excerpt(&bytes)).unwrap_or_default();
    if stdout_full {
        return Outcome::Failed(RunError::TooMuchOutput { limit });
    }
    match status {
        Ok(status) if status.success() => match fed {
            Ok(()) => Outcome::Done { stdout },
            Err(error) => Outcome::Failed(RunError::Io(error)),
        },
        Ok(status) => Outcome::Failed(RunError::Exit { status, stderr }),
        Err(error) => Outcome::Failed(RunError::Io(error)),
    }
}

/// Reads `pipe` to its end, keeping at most `limit` bytes; says whether there was more. Past
/// the limit it reads the rest and drops it when `drain` (standard error: an excerpt is
/// enough), or stops and closes the pipe (standard output, whose program is then killed).
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, limit: usize, drain: bool) -> std::io::Result<(Vec<u8>, bool)> {
    let Some(pipe) = pipe else { return Ok((Vec::new(), false)) };
    let mut kept = Vec::new();
    let mut limited = pipe.take(limit as u64 + 1);
    limited.read_to_end(&mut kept).await?;
    let over = kept.len() > limit;
    kept.truncate(limit);
    if over && drain {
        let mut rest = limited.into_inner();
        let mut sink = [0u8; 8192];
        while rest.read(&mut sink).await? > 0 {}
    }
    Ok((kept, over))
}

/// The end of standard error as text, for a failure's message.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim().to_owned()
}
