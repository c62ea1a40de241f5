//! Throughput of whole pipelines next to hand-written serde_json programs doing the same work,
//! measured in the same run:
//!
//! - `pass`: NDJSON file → a pass-through block → NDJSON file (the engine's own cost);
//! - `filter-map` (A): file → `filter .kind == "chat"` → `map .len = (.text | length)` → file;
//! - `window` (B): A, then a 10-second tumbling event-time window counting messages per room.
//!
//! `cargo bench --bench throughput` (1,000,000 events of ~180 bytes, 80% chat;
//! `RUNNEL_BENCH_MESSAGES` sets the count, `RUNNEL_BENCH_SCENARIOS=pass,window` picks scenarios).

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod baseline;
mod input;

use std::path::Path;
use std::time::{Duration, Instant};

use runnel::{BlockConfig, BuildContext, Emitter, FunctionBlock, Message, Pipeline};
use runnel_engine::async_trait;

/// What a run does to every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    Pass,
    FilterMap,
    Window,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::FilterMap => "filter-map",
            Self::Window => "window",
        }
    }

    fn blocks(self) -> &'static str {
        match self {
            Self::Pass => "",
            Self::FilterMap | Self::Window => {
                r#"
[blocks.chat]
type = "filter"
inputs = ["in"]
condition = '.kind == "chat"'
[blocks.len]
type = "map"
inputs = ["chat"]
program = '.len = (.text | length)'
"#
            }
        }
    }
}

/// A block that emits every message unchanged: what the engine costs around a block.
#[derive(Debug)]
struct Pass;

impl FunctionBlock for Pass {
    fn process(&mut self, message: Message, out: &mut Emitter) {
        out.emit(message);
    }
}

#[derive(Debug)]
struct PassConfig;

#[async_trait]
impl BlockConfig for PassConfig {
    async fn build(&self, _: &BuildContext) -> Result<runnel::BuiltBlock, runnel_engine::BuildError> {
        Ok(runnel::BuiltBlock::function(Pass))
    }
}

fn pipeline(scenario: Scenario, input: &Path, output: &Path) -> Pipeline {
    let source = format!("[sources.in]\ntype = \"file\"\npath = {:?}\n", input.display().to_string());
    let sink =
        |from: &str| format!("[sinks.out]\ntype = \"file\"\ninputs = [\"{from}\"]\npath = {:?}\nappend = false\n", output.display().to_string());
    let registry = runnel::registry();
    match scenario {
        Scenario::Pass => {
            let source: runnel_connectors::FileSourceConfig = toml::from_str(&format!("path = {:?}", input.display().to_string())).expect("config");
            let sink: runnel_connectors::FileSinkConfig =
                toml::from_str(&format!("path = {:?}\nappend = false", output.display().to_string())).expect("config");
            runnel::PipelineBuilder::new().source("in", source).block("pass", ["in"], PassConfig).sink("out", ["pass"], sink).build().expect("valid")
        }
        Scenario::FilterMap => Pipeline::from_toml(&format!("{source}{}{}", scenario.blocks(), sink("len")), &registry).expect("valid"),
        Scenario::Window => {
            let window = "[blocks.rooms]\ntype = \"window\"\ninputs = [\"len\"]\nkind = \"tumbling\"\nsize = \"10s\"\ntime_field = \".ts\"\ngroup_by = \".room\"\n";
            Pipeline::from_toml(&format!("{source}{}{window}{}", scenario.blocks(), sink("rooms")), &registry).expect("valid")
        }
    }
}

fn engine_run(scenario: Scenario, input: &Path, output: &Path, workers: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let pipeline = pipeline(scenario, input, output);
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path).expect("reads").lines().map(str::to_owned).collect();
    lines.sort_unstable();
    lines
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench --bench throughput`");
        return;
    }
    let messages: usize = std::env::var("RUNNEL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let wanted = std::env::var("RUNNEL_BENCH_SCENARIOS").unwrap_or_else(|_| "pass,filter-map,window".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    let bytes = input::write_chat_events(&input, messages).expect("writes input");
    println!("input: {messages} chat events, {:.1} MB ({} bytes per event)", bytes as f64 / 1e6, bytes / messages as u64);
    let (hand_out, engine_out) = (dir.path().join("hand.ndjson"), dir.path().join("engine.ndjson"));
    for scenario in [Scenario::Pass, Scenario::FilterMap, Scenario::Window] {
        if !wanted.split(',').any(|w| w == scenario.name()) {
            continue;
        }
        let mut best = [Duration::MAX; 3];
        for _ in 0..3 {
            let runs = [
                baseline::run(scenario, &input, &hand_out).expect("hand-written run"),
                engine_run(scenario, &input, &engine_out, 1),
                engine_run(scenario, &input, &engine_out, 2),
            ];
            for (best, run) in best.iter_mut().zip(runs) {
                *best = (*best).min(run);
            }
        }
        assert_eq!(sorted_lines(&hand_out), sorted_lines(&engine_out), "{}: the engine's output differs", scenario.name());
        let [hand, one, two] = best;
        println!("{} (best of 3, input messages per second):", scenario.name());
        println!("  hand-written, 1 thread  : {:>10.0}", rate(messages, hand));
        println!("  runnel, 1 worker thread : {:>10.0}  ratio {:.2}", rate(messages, one), hand.as_secs_f64() / one.as_secs_f64());
        println!("  runnel, 2 worker threads: {:>10.0}  ratio {:.2}", rate(messages, two), hand.as_secs_f64() / two.as_secs_f64());
    }
}
