//! The `runnel` command line: `run`, `validate`, `graph`, `list` and `jq`.

/// jemalloc, as Vector uses: every message crossing an edge is freed on another thread than
/// the one that allocated it, and jemalloc does that cheaply (measured against mimalloc and the
/// system allocator: on two worker threads it is 15% faster than mimalloc, 1.8 times as fast as
/// glibc's allocator).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod jq;
mod progress;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code for a pipeline file with errors (EX_CONFIG from sysexits.h, as `vector validate`).
const EXIT_CONFIG: u8 = 78;

/// runnel runs pipelines of small blocks that consume, transform and produce JSON messages.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline until its sources finish or SIGINT/SIGTERM arrives.
    Run(run::RunArgs),
    /// Check a pipeline file; print every problem with file:line:column. Exits 0 when valid, 78 when not.
    Validate {
        /// The pipeline file (TOML).
        file: PathBuf,
    },
    /// Print a pipeline's graph as Graphviz DOT or Mermaid.
    Graph {
        /// The pipeline file (TOML).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// List the built-in source, block and sink types.
    List,
    /// Run a jq program over NDJSON (a file or stdin) as the blocks run it, printing each output
    /// on a line as `jq -c` does; each failed input on stderr with its line. Exits 5 if any failed.
    Jq(jq::JqArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `runnel jq` prints its own lines on stderr; the pipeline's start and end are not news.
    init_logging(if matches!(cli.command, Command::Jq(_)) { "warn" } else { "info" });
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { file } => validate(&file),
        Command::Graph { file, format } => graph(&file, format),
        Command::List => list(),
        Command::Jq(args) => jq::jq(args),
    }
}

/// Logs to stderr, at `RUNNEL_LOG`'s level or `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNNEL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

/// Loads `file`, printing warnings, or every error and `None`.
fn load(file: &std::path::Path) -> Option<runnel::Pipeline> {
    match runnel::load(file) {
        Ok(pipeline) => {
            for warning in pipeline.warnings() {
                eprintln!("{warning}");
            }
            Some(pipeline)
        }
        Err(error) => {
            eprint!("{error}");
            None
        }
    }
}

fn validate(file: &std::path::Path) -> ExitCode {
    match load(file) {
        Some(pipeline) => {
            let (nodes, edges) = pipeline.size();
            println!("{}: valid ({nodes} nodes, {edges} edges)", file.display());
            ExitCode::SUCCESS
        }
        None => ExitCode::from(EXIT_CONFIG),
    }
}

fn graph(file: &std::path::Path, format: GraphFormat) -> ExitCode {
    let Some(pipeline) = load(file) else { return ExitCode::from(EXIT_CONFIG) };
    let text = match format {
        GraphFormat::Dot => pipeline.to_dot(),
        GraphFormat::Mermaid => pipeline.to_mermaid(),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

fn list() -> ExitCode {
    for entry in runnel::registry().entries() {
        println!("{:<8} {:<12} {}", entry.role.section(), entry.type_name, entry.description);
    }
    let features = runnel::connectors::FEATURES;
    println!("\nconnector features: {}", if features.is_empty() { "none".to_owned() } else { features.join(", ") });
    ExitCode::SUCCESS
}
