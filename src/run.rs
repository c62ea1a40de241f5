//! `runnel run`: start the pipeline, the metrics endpoint and the progress line; stop on a
//! signal, drain, and print a summary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use runnel::{CancellationToken, ListenerLimits, PhaseHandle, PipelineMetrics, RunError, serve_metrics};

use crate::EXIT_CONFIG;
use crate::progress::Progress;

/// Options of `runnel run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The pipeline file (TOML).
    file: PathBuf,
    /// Where to serve /metrics, /health and /ready.
    #[arg(long, default_value = "127.0.0.1:9598", env = "RUNNEL_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Do not serve metrics.
    #[arg(long)]
    no_metrics: bool,
    /// How long to let the pipeline drain after SIGINT/SIGTERM before aborting what still runs.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_timeout: Duration,
    /// Live progress on stderr: `auto` shows it when stderr is a terminal.
    #[arg(long, value_enum, default_value_t = crate::progress::When::Auto)]
    progress: crate::progress::When,
    /// Worker threads running the pipeline's blocks, 1 to 1024 (default: one per CPU core).
    #[arg(long, env = "RUNNEL_THREADS", value_parser = parse_threads)]
    threads: Option<std::num::NonZeroUsize>,
}

/// The most worker threads `--threads` accepts. Each has its own stack (2 MiB reserved) and the
/// runtime keeps per-worker queues, so an absurd count exhausts memory or the process's thread
/// limit instead of running faster; 1,024 is far more than the cores of any machine runnel
/// runs on.
const MAX_THREADS: usize = 1024;

fn parse_threads(text: &str) -> Result<std::num::NonZeroUsize, String> {
    let threads: usize = text.parse().map_err(|e| format!("{e}"))?;
    std::num::NonZeroUsize::new(threads)
        .filter(|n| n.get() <= MAX_THREADS)
        .ok_or_else(|| format!("{threads} worker threads: give 1 to {MAX_THREADS} (the default is one per CPU core)"))
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let Some(pipeline) = crate::load(&args.file) else { return ExitCode::from(EXIT_CONFIG) };
    // A memory sink holds what it receives until a program embedding runnel takes it; here
    // nothing would, and the pipeline would stall once its channel is full.
    let unread: Vec<&str> =
        pipeline.nodes().filter(|(_, role, kind)| *role == runnel::Role::Sink && *kind == "memory").map(|(name, ..)| name).collect();
    if !unread.is_empty() {
        eprintln!(
            "runnel: {}: sink(s) {} of type `memory` can only be read by a program embedding runnel (`runnel::take_output`); use `stdout` or `file` here",
            args.file.display(),
            unread.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match runtime(args.threads) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runnel: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run_pipeline(pipeline, args));
    // The pipeline has stopped: what still runs is a read blocked on a quiet standard input, or a
    // node aborted at the deadline that never yields. Neither may keep the process alive.
    runtime.shutdown_timeout(RUNTIME_GRACE);
    code
}

/// The runtime blocks run on: `threads` workers (default: one per CPU core), each with a
/// stack of [`WORKER_STACK`].
///
/// # Errors
/// When the runtime's threads cannot be started.
pub(crate) fn runtime(threads: Option<std::num::NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // jq programs recurse as deep as the values they build (jaq builds, prints and frees nested
    // values recursively). Outputs deeper than the jq block's limit fail their message; this
    // stack, reserved but only touched as used, lets jaq get that far on a deep value built
    // inside a program instead of overflowing first.
    builder.thread_stack_size(WORKER_STACK);
    if let Some(threads) = threads {
        builder.worker_threads(threads.get());
    }
    builder.enable_all().build()
}

/// The stack of each worker thread.
const WORKER_STACK: usize = 64 << 20;

/// How long the runtime waits for its threads once the pipeline has stopped.
const RUNTIME_GRACE: Duration = Duration::from_millis(200);

async fn run_pipeline(pipeline: runnel::Pipeline, args: RunArgs) -> ExitCode {
    // Listening first: a signal that arrives while the pipeline starts stops it gracefully
    // instead of killing the process with the signal's default action.
    let signals = Signals::listen();
    let metrics = PipelineMetrics::new();
    let phase = PhaseHandle::default();
    let stop_server = CancellationToken::new();
    if !args.no_metrics {
        let listener = match tokio::net::TcpListener::bind(args.metrics_addr).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("runnel: cannot listen on {} for metrics: {error}", args.metrics_addr);
                return ExitCode::FAILURE;
            }
        };
        let address = listener.local_addr().map_or(args.metrics_addr, |a| a);
        tracing::info!(%address, "serving /metrics, /health and /ready");
        let stop = stop_server.clone();
        let (metrics, phase) = (metrics.clone(), phase.clone());
        tokio::spawn(async move { serve_metrics(listener, &metrics, phase, ListenerLimits::MONITORING, stop.cancelled_owned()).await });
    }
    let sources: Vec<String> = names(&pipeline, runnel::Role::Source);
    let sinks: Vec<String> = names(&pipeline, runnel::Role::Sink);
    let running = match pipeline.start_with(metrics.clone(), phase).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("runnel: the pipeline could not start:\n{error}");
            return ExitCode::FAILURE;
        }
    };
    let started = running.started();
    let progress = Progress::start(args.progress, metrics.clone(), sources.clone(), sinks.clone());
    let result = running.run_until(signals.wait(), args.shutdown_timeout).await;
    progress.finish();
    stop_server.cancel();
    let elapsed = started.elapsed();
    eprintln!("{}", crate::progress::summary(&metrics, &sources, &sinks, elapsed));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ RunError::TimedOut { .. }) => {
            eprintln!("runnel: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("runnel: {error}");
            ExitCode::FAILURE
        }
    }
}

fn names(pipeline: &runnel::Pipeline, role: runnel::Role) -> Vec<String> {
    pipeline.node_names(role)
}

/// SIGINT and SIGTERM, listened for from the moment this is made (tokio's handlers are
/// installed when a listener is created, not when it is first awaited).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for {name}; it will not stop the pipeline gracefully");
                    None
                }
            };
            Self { interrupt: listen(SignalKind::interrupt(), "SIGINT"), terminate: listen(SignalKind::terminate(), "SIGTERM") }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes on SIGINT or SIGTERM.
    async fn wait(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => tracing::info!("SIGINT received"),
                () = next(self.terminate) => tracing::info!("SIGTERM received"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
