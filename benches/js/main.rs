//! The JavaScript `function` block next to the same handler run by Node.js (reading NDJSON from
//! stdin and writing it to stdout, as users run a handler locally) and next to the same logic as
//! a jq `map` block, measured in the same run:
//!
//! - handler: `(m) => ({ ...m, len: m.text.length })` on the throughput bench's chat events;
//! - runnel: NDJSON file → `function` (or `map`) → NDJSON file, with 1 and 2 workers;
//! - Node.js: `node benches/js/node_runner.mjs < in > out` (skipped when `node` is missing).
//!
//! `cargo bench --bench js` (200,000 events; `RUNNEL_BENCH_MESSAGES` sets the count,
//! `RUNNEL_BENCH_ROUNDS` the rounds).

/// jemalloc, as in the `runnel` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "../throughput/input.rs"]
mod input;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runnel::Pipeline;

const HANDLER: &str = "export default (m) => ({ ...m, len: m.text.length });";
const PROGRAM: &str = ".len = (.text | length)";

/// The block under test.
#[derive(Clone, Copy)]
enum Logic {
    JavaScript { workers: usize },
    Jq,
}

fn pipeline(logic: Logic, input: &Path, output: &Path) -> Pipeline {
    let block = match logic {
        Logic::JavaScript { workers } => format!("type = \"function\"\nworkers = {workers}\ncode = '{HANDLER}'\n"),
        Logic::Jq => format!("type = \"map\"\nprogram = '{PROGRAM}'\n"),
    };
    let toml = format!(
        "[sources.in]\ntype = \"file\"\npath = {:?}\n[blocks.logic]\ninputs = [\"in\"]\n{block}[sinks.out]\ntype = \"file\"\ninputs = [\"logic\"]\npath = {:?}\nappend = false\n",
        input.display().to_string(),
        output.display().to_string()
    );
    Pipeline::from_toml(&toml, &runnel::registry()).expect("valid")
}

fn runnel_run(logic: Logic, input: &Path, output: &Path, threads: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let pipeline = pipeline(logic, input, output);
        let start = Instant::now();
        pipeline.start().await.expect("starts").wait().await.expect("runs");
        start.elapsed()
    })
}

fn node_run(input: &Path, output: &Path) -> Option<Duration> {
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/js/node_runner.mjs");
    let (stdin, stdout) = (std::fs::File::open(input).expect("input"), std::fs::File::create(output).expect("output"));
    let start = Instant::now();
    let status = Command::new("node").arg(runner).stdin(stdin).stdout(stdout).stderr(Stdio::inherit()).status().ok()?;
    assert!(status.success(), "node failed: {status}");
    Some(start.elapsed())
}

/// Each output line as a JSON value, sorted: Node writes `len` last, runnel in key order.
fn values(path: &Path) -> Vec<serde_json::Value> {
    let mut values: Vec<serde_json::Value> =
        std::fs::read_to_string(path).expect("reads").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    values.sort_by_key(|v| v["id"].as_u64());
    values
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("js: run with `cargo bench --bench js`");
        return;
    }
    let messages: usize = std::env::var("RUNNEL_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    let bytes = input::write_chat_events(&input, messages).expect("writes input");
    println!("input: {messages} chat events, {:.1} MB", bytes as f64 / 1e6);
    let outputs = ["node", "js1", "js2", "jq1", "jq2"].map(|name| dir.path().join(format!("{name}.ndjson")));
    let mut best = [Duration::MAX; 5];
    let mut node_missing = false;
    // Rounds alternate every runner, so a slow spell of a shared machine hits them alike; the
    // best of each is kept (`RUNNEL_BENCH_ROUNDS`, 5 by default).
    let rounds: usize = std::env::var("RUNNEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    for _ in 0..rounds {
        let node = node_run(&input, &outputs[0]);
        node_missing = node.is_none();
        let runs = [
            node.unwrap_or(Duration::MAX),
            runnel_run(Logic::JavaScript { workers: 1 }, &input, &outputs[1], 1),
            runnel_run(Logic::JavaScript { workers: 2 }, &input, &outputs[2], 2),
            runnel_run(Logic::Jq, &input, &outputs[3], 1),
            runnel_run(Logic::Jq, &input, &outputs[4], 2),
        ];
        for (best, run) in best.iter_mut().zip(runs) {
            *best = (*best).min(run);
        }
    }
    let expected = values(&outputs[3]);
    assert_eq!(expected.len(), messages);
    for output in &outputs[1..] {
        assert_eq!(values(output), expected, "{} differs from the jq block's output", output.display());
    }
    let [node, js1, js2, jq1, jq2] = best;
    println!("handler `{HANDLER}` (best of {rounds}, messages per second):");
    if node_missing {
        println!("  Node.js                 : not installed; skipped");
    } else {
        assert_eq!(values(&outputs[0]), expected, "Node's output differs from the jq block's");
        println!("  Node.js, stdin to stdout: {:>10.0}", rate(messages, node));
    }
    for (label, took) in [("function, 1 worker ", js1), ("function, 2 workers", js2), ("jq map, 1 worker   ", jq1), ("jq map, 2 workers  ", jq2)] {
        let against_node = if node_missing { String::new() } else { format!("  vs Node {:.2}", node.as_secs_f64() / took.as_secs_f64()) };
        println!(
            "  runnel {label}: {:>10.0}{against_node}  vs jq map (2 workers) {:.2}",
            rate(messages, took),
            jq2.as_secs_f64() / took.as_secs_f64()
        );
    }
}
