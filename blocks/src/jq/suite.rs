//! jq's own test suite as a yardstick: reads a file in the format of jq's `tests/jq.test`
//! (jqlang/jq, jq 1.8), runs every case through a `map` block, and prints how many give jq's
//! outputs. The file is jq's, so it is not in this repository: fetch it and name it in
//! `RUNNEL_JQ_TEST` (`RUNNEL_JQ_TEST=/work/jq.test cargo test -p runnel-blocks jq_test_suite
//! -- --nocapture`); without it the test says so and passes. `RUNNEL_JQ_TEST_VERBOSE=1` also
//! lists every case that does not pass.
//!
//! Each case is a program, an input and the expected outputs, one JSON text a line, separated
//! from the next case by a blank line; `%%FAIL` cases (programs jq refuses) are not counted. A
//! case with no outputs marked `# Runtime error` passes when the message fails. Programs run
//! with the blocks' limits, with ten seconds instead of one in a debug build.
//! Outputs are compared as JSON values, with numbers equal when they are the same number
//! (`2` and `2.0`). A case that does not pass is counted as:
//! - *expected error wording*: its program catches errors and the outputs differ only in
//!   strings, so jq's message wording is what differs (runnel keeps jaq's messages);
//! - *rejected*: the program does not compile;
//! - *differs*: anything else (other outputs, or an error where jq has outputs).

use std::time::Duration;

use serde_json::Value;

use crate::MapConfig;
use crate::jq::{JqProgram, Limits};
use crate::test_support::run_block;

/// The fewest cases of jq 1.8's suite that must pass, so that a change that loses some is
/// noticed by whoever runs the suite.
const FLOOR: usize = 493;

/// One case of the suite.
#[derive(Debug)]
struct Case {
    /// The line of the program in the file.
    line: usize,
    program: String,
    input: String,
    expected: Vec<String>,
    /// The case notes (a `# Runtime error` line) that jq fails after the expected outputs.
    fails: bool,
}

/// How a case came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    ErrorWording,
    Differs,
    Rejected,
}

/// The cases of a file in jq.test's format, without its `%%FAIL` cases.
fn cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut group: Vec<(usize, &str)> = Vec::new();
    let mut fails = false;
    let mut flush = |group: &mut Vec<(usize, &str)>, fails: &mut bool| {
        let lines = std::mem::take(group);
        let refused = lines.first().is_some_and(|(_, first)| first.starts_with("%%FAIL"));
        if let [(line, program), (_, input), expected @ ..] = &lines[..] {
            if !refused {
                let expected = expected.iter().map(|(_, text)| (*text).to_owned()).collect();
                cases.push(Case { line: *line, program: (*program).to_owned(), input: (*input).to_owned(), expected, fails: *fails });
            }
        }
        *fails = false;
    };
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            flush(&mut group, &mut fails);
        } else if !line.starts_with('#') || group.first().is_some_and(|(_, first)| first.starts_with("%%FAIL")) {
            group.push((number + 1, line));
        } else if group.len() >= 2 && line.starts_with("# Runtime error") {
            fails = true;
        }
    }
    flush(&mut group, &mut fails);
    cases
}

/// Whether two JSON values are equal, numbers by value (`2` equals `2.0`; integers exactly).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i128(), y.as_i128()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// Whether `a` and `b` have the same shape and differ only where both hold strings.
fn differ_in_strings(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(_), Value::String(_)) => true,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| differ_in_strings(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| differ_in_strings(v, w))),
        _ => same(a, b),
    }
}

/// Runs one case through a `map` block: its verdict and, when it does not pass, what came out.
async fn run(case: &Case) -> (Verdict, String) {
    let program = match JqProgram::new(case.program.as_str()) {
        Ok(program) => program,
        Err(error) => return (Verdict::Rejected, error.to_string()),
    };
    let input = case.input.trim_start_matches('\u{feff}');
    let Ok(input) = serde_json::from_str::<Value>(input) else { return (Verdict::Rejected, "input is not JSON".into()) };
    let outcome = run_block(MapConfig { program: program.with_limits(limits()) }, vec![input]).await;
    let expected: Vec<Option<Value>> = case.expected.iter().map(|text| serde_json::from_str(text).ok()).collect();
    let shown = format!("{:?} {:?}", outcome.out.iter().map(Value::to_string).collect::<Vec<_>>(), outcome.errors);
    let pairs = || outcome.out.iter().zip(&expected);
    let comparable = outcome.errors.is_empty() && outcome.out.len() == expected.len();
    if comparable && pairs().all(|(got, want)| want.as_ref().is_some_and(|want| same(got, want))) {
        return (Verdict::Pass, shown);
    }
    // jq fails without an output, and so does the message.
    if case.fails && expected.is_empty() && outcome.out.is_empty() && !outcome.errors.is_empty() {
        return (Verdict::Pass, shown);
    }
    let catches = case.program.contains("catch") || case.program.contains("?//");
    if catches && comparable && pairs().all(|(got, want)| want.as_ref().is_some_and(|want| differ_in_strings(got, want))) {
        return (Verdict::ErrorWording, shown);
    }
    (Verdict::Differs, shown)
}

/// The blocks' limits, with more time in a debug build: the time budget is set for a release
/// build, which runs jq programs about ten times as fast.
fn limits() -> Limits {
    let time = if cfg!(debug_assertions) { Duration::from_secs(10) } else { Limits::default().time };
    Limits { time, ..Limits::default() }
}

/// The stack of the `runnel` binary's worker threads, which run the blocks.
const WORKER_STACK: usize = 64 << 20;

#[test]
fn jq_test_suite() {
    let Some(path) = std::env::var_os("RUNNEL_JQ_TEST") else {
        eprintln!("skipped: set RUNNEL_JQ_TEST to the path of jq's tests/jq.test (jqlang/jq) to run it");
        return;
    };
    let worker = std::thread::Builder::new().stack_size(WORKER_STACK).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(run_suite(path));
    });
    worker.expect("spawns").join().expect("the suite runs");
}

async fn run_suite(path: std::ffi::OsString) {
    let verbose = std::env::var_os("RUNNEL_JQ_TEST_VERBOSE").is_some();
    let text = std::fs::read_to_string(&path).expect("RUNNEL_JQ_TEST names a readable file");
    let cases = cases(&text);
    let mut counts = [0_usize; 4];
    for case in &cases {
        let (verdict, shown) = run(case).await;
        counts[verdict as usize] += 1;
        if verbose && verdict != Verdict::Pass {
            println!(
                "{verdict:?} at line {}: {}\n  input:    {}\n  expected: {:?}\n  got:      {shown}",
                case.line, case.program, case.input, case.expected
            );
        }
    }
    let [pass, wording, differs, rejected] = counts;
    let judged = cases.len() - wording;
    println!("jq test suite: {} cases", cases.len());
    println!("  pass: {pass} ({:.1}% of the {judged} whose expected output is not jq's error wording)", pass as f64 * 100.0 / judged as f64);
    println!("  expected error wording: {wording}");
    println!("  differs: {differs}");
    println!("  rejected: {rejected}");
    assert!(pass >= FLOOR, "{pass} cases pass, fewer than the {FLOOR} that passed before");
}
