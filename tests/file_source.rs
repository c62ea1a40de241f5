//! The `file` source across restarts and log rotation: checkpoints that follow acknowledgements
//! (the real binary, killed with SIGKILL and restarted), copy-and-truncate and rename rotation
//! while following, globs, and the errors and warnings of a bad setup.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use runnel_connectors::MemoryOutput;
use serde_json::Value;

use crate::support::{pipeline, runnel_bin, wait_for};

/// How long a test waits for lines it expects before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

fn lines(from: std::ops::Range<u64>, tag: &str) -> String {
    from.map(|n| format!("{{\"{tag}\":{n}}}\n")).collect()
}

fn append(path: &Path, text: &str) {
    OpenOptions::new().append(true).create(true).open(path).expect("opens").write_all(text.as_bytes()).expect("appends");
}

/// The next `count` messages' values, failing after [`PATIENCE`].
async fn next_values(output: &mut MemoryOutput, count: usize) -> Vec<Value> {
    let mut values = Vec::with_capacity(count);
    while values.len() < count {
        match tokio::time::timeout(PATIENCE, output.recv()).await {
            Ok(Some(message)) => values.push(message.into_value()),
            Ok(None) => panic!("the pipeline ended after {} of {count} messages: {values:?}", values.len()),
            Err(_) => panic!("timed out after {} of {count} messages: {values:?}", values.len()),
        }
    }
    values
}

/// `values`' field `tag`, sorted.
fn numbers(values: &[Value], tag: &str) -> Vec<u64> {
    let mut numbers: Vec<u64> = values.iter().filter_map(|v| v[tag].as_u64()).collect();
    numbers.sort_unstable();
    numbers
}

/// A following file source reading `path` (a file or a glob), with its checkpoints in `dir`,
/// into a memory sink called `out`.
fn following(path: &Path, dir: &Path, extra: &str) -> String {
    format!(
        "[sources.in]\ntype = \"file\"\npath = {path:?}\nfollow = true\npoll_interval_ms = 10\ncheckpoint_path = {:?}\ncheckpoint_interval_ms = 20\n{extra}[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n",
        dir.join("checkpoints.json")
    )
}

fn checkpoints(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// `runnel run` on a pipeline file: a file source following `input`, into the file `output`.
fn start_runnel(pipeline: &Path) -> Child {
    Command::new(runnel_bin())
        .args(["run", "--no-metrics", pipeline.to_str().expect("utf-8")])
        .env("RUNNEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts")
}

/// The `n` of each whole line of `output` (a line cut short by the kill is not a delivery).
fn delivered(output: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter_map(|v| v["n"].as_u64()).collect()
}

/// Killed with SIGKILL midway and restarted, the source reads on from its last checkpoint: every
/// line comes out, and the only duplicates are lines delivered after that checkpoint.
#[test]
fn a_restart_after_sigkill_resumes_at_the_checkpoint() {
    const TOTAL: u64 = 300_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output, file) = (dir.path().join("in.ndjson"), dir.path().join("out.ndjson"), dir.path().join("p.toml"));
    std::fs::write(&input, lines(0..TOTAL, "n")).expect("writes");
    std::fs::write(
        &file,
        "[sources.in]\ntype = \"file\"\npath = \"in.ndjson\"\nfollow = true\ncheckpoint_interval_ms = 50\n[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]\npath = \"out.ndjson\"\n",
    )
    .expect("writes");
    // The default place: beside the pipeline file, under its name.
    let state = dir.path().join(".runnel/p/in.checkpoints.json");

    let mut first = start_runnel(&file);
    let line_of = |c: &Value| c["files"][0]["line"].as_u64();
    wait_for("a first checkpoint past the start", 60, || checkpoints(&state).and_then(|c| line_of(&c)).filter(|line| *line > 0));
    first.kill().expect("SIGKILL");
    first.wait().expect("exits");
    let checkpointed = checkpoints(&state).and_then(|c| line_of(&c)).expect("a checkpoint");
    let before = delivered(&output);
    assert!(before.len() as u64 >= checkpointed, "the checkpoint ({checkpointed}) passed what was written ({})", before.len());

    let mut second = start_runnel(&file);
    wait_for("the last line", 120, || delivered(&output).last().filter(|n| **n == TOTAL - 1).copied());
    let status = Command::new("kill").args(["-TERM", &second.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exited = second.wait().expect("exits");
    assert!(exited.success(), "{exited:?}");

    let all = delivered(&output);
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for n in &all {
        *seen.entry(*n).or_default() += 1;
    }
    assert_eq!(seen.len() as u64, TOTAL, "every line came out");
    let mut duplicated: Vec<u64> = seen.iter().filter(|(_, times)| **times > 1).map(|(n, _)| *n).collect();
    duplicated.sort_unstable();
    assert!(seen.values().all(|times| *times <= 2), "a line came out more than twice");
    // Line n + 1 holds {"n": n}: the duplicates are lines after the checkpoint, delivered before the kill.
    assert!(duplicated.first().is_none_or(|n| *n >= checkpointed), "{checkpointed}: {:?}", &duplicated[..duplicated.len().min(5)]);
    assert!(duplicated.len() <= before.len() - checkpointed as usize);
    assert!((duplicated.len() as u64) < TOTAL / 20, "{} duplicates of {TOTAL}", duplicated.len());
    let restarted = checkpoints(&state).expect("checkpoints");
    assert_eq!((line_of(&restarted), restarted["files"][0]["offset"].as_u64()), (Some(TOTAL), Some(std::fs::metadata(&input).expect("stat").len())));
}

/// Copy-and-truncate rotation: the file is truncated in place and written again; the new lines
/// are read from its start.
#[tokio::test]
async fn a_file_truncated_in_place_is_read_again_from_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    std::fs::write(&path, lines(0..100, "first")).expect("writes");
    let running = pipeline(&following(&path, dir.path(), "")).start().await.expect("starts");
    let mut output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let stop = running.shutdown_token();
    let done = tokio::spawn(running.run_until(stop.clone().cancelled_owned(), Duration::from_secs(10)));
    assert_eq!(numbers(&next_values(&mut output, 100).await, "first"), (0..100).collect::<Vec<_>>());
    // The copy is taken, then the file truncated and written on, shorter or longer than before.
    File::create(&path).expect("truncates");
    append(&path, &lines(0..100, "second"));
    let second = next_values(&mut output, 100).await;
    assert_eq!(numbers(&second, "second"), (0..100).collect::<Vec<_>>());
    stop.cancel();
    done.await.expect("joins").expect("stops cleanly");
    let saved = checkpoints(&dir.path().join("checkpoints.json")).expect("checkpoints");
    let size = std::fs::metadata(&path).expect("stat").len();
    assert_eq!((saved["files"][0]["offset"].as_u64(), saved["files"][0]["line"].as_u64()), (Some(size), Some(100)), "{saved}");
}

/// Rename rotation: the file is renamed away and its writer finishes into it while a new file
/// is created at its path; both are read to their end.
#[tokio::test]
async fn a_file_renamed_away_is_read_to_its_end_and_the_new_one_from_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let mut writer = File::create(&path).expect("creates");
    writer.write_all(lines(0..50, "old").as_bytes()).expect("writes");
    let running = pipeline(&following(&path, dir.path(), "rotate_wait_ms = 60000\n")).start().await.expect("starts");
    let mut output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let stop = running.shutdown_token();
    let done = tokio::spawn(running.run_until(stop.clone().cancelled_owned(), Duration::from_secs(10)));
    assert_eq!(numbers(&next_values(&mut output, 50).await, "old").len(), 50);
    std::fs::rename(&path, dir.path().join("app.log.1")).expect("renames");
    // The writer has not reopened yet: its last lines go to the renamed file.
    writer.write_all(lines(50..80, "old").as_bytes()).expect("writes");
    std::fs::write(&path, lines(0..40, "new")).expect("creates the new file");
    let rest = next_values(&mut output, 70).await;
    assert_eq!(numbers(&rest, "old"), (50..80).collect::<Vec<_>>(), "the old file's tail");
    assert_eq!(numbers(&rest, "new"), (0..40).collect::<Vec<_>>(), "the new file from its start");
    stop.cancel();
    done.await.expect("joins").expect("stops cleanly");
}

/// A glob reads every file it matches, each with its own checkpoint and line numbers, and picks
/// up a file that appears later.
#[tokio::test]
async fn a_glob_reads_every_file_it_matches_and_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    std::fs::write(logs.join("a.ndjson"), lines(0..100, "a")).expect("writes");
    std::fs::write(logs.join("b.ndjson"), lines(0..100, "b")).expect("writes");
    std::fs::write(logs.join("b.skip.ndjson"), lines(0..100, "skipped")).expect("writes");
    let exclude = format!("exclude = [{:?}]\n", logs.join("*.skip.ndjson"));
    let running = pipeline(&following(&logs.join("*.ndjson"), dir.path(), &exclude)).start().await.expect("starts");
    let mut output = runnel_connectors::take_output(running.resources(), "out").expect("sink");
    let stop = running.shutdown_token();
    let done = tokio::spawn(running.run_until(stop.clone().cancelled_owned(), Duration::from_secs(10)));
    let mut messages = Vec::new();
    for _ in 0..200 {
        messages.push(tokio::time::timeout(PATIENCE, output.recv()).await.expect("in time").expect("a message"));
    }
    let from = |m: &runnel::Message| PathBuf::from(m.meta().origin.stream().expect("a file")).file_name().map(|f| f.to_string_lossy().into_owned());
    let values: Vec<Value> = messages.iter().map(|m| m.value().clone()).collect();
    assert_eq!((numbers(&values, "a").len(), numbers(&values, "b").len()), (100, 100));
    let last_b = messages.iter().rfind(|m| from(m).as_deref() == Some("b.ndjson")).expect("b's lines");
    assert_eq!(last_b.meta().origin.offset, Some(100), "each file's lines are numbered on their own");
    std::fs::write(logs.join("c.ndjson"), lines(0..10, "c")).expect("writes");
    assert_eq!(numbers(&next_values(&mut output, 10).await, "c"), (0..10).collect::<Vec<_>>());
    stop.cancel();
    done.await.expect("joins").expect("stops cleanly");
    let saved = checkpoints(&dir.path().join("checkpoints.json")).expect("checkpoints");
    let files: Vec<(String, u64)> = saved["files"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned(), f["line"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(files, [("a.ndjson".to_owned(), 100), ("b.ndjson".to_owned(), 100), ("c.ndjson".to_owned(), 10)]);
}

/// A source that does not follow and whose glob matches nothing fails to start, naming the
/// pattern; one whose checkpoint file cannot be read names that file.
#[tokio::test]
async fn a_glob_matching_nothing_or_an_unreadable_checkpoint_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pattern = dir.path().join("*.ndjson");
    let toml = format!("[sources.in]\ntype = \"file\"\npath = {pattern:?}\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n");
    let error = pipeline(&toml).start().await.expect_err("nothing to read").to_string();
    assert!(error.contains(&format!("no file matches {}", pattern.display())), "{error}");

    std::fs::write(dir.path().join("a.ndjson"), "{}\n").expect("writes");
    let toml = format!(
        "[sources.in]\ntype = \"file\"\npath = {pattern:?}\ncheckpoint_path = {:?}\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n",
        dir.path()
    );
    let error = pipeline(&toml).start().await.expect_err("a folder is no checkpoint file").to_string();
    assert!(error.contains(&format!("cannot read the checkpoints in {}", dir.path().display())), "{error}");
}

/// A corrupt checkpoint file is set aside, and the source starts per `read_from`.
#[tokio::test]
async fn a_corrupt_checkpoint_file_is_set_aside_and_reading_starts_per_read_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, lines(0..10, "n")).expect("writes");
    let state = dir.path().join("checkpoints.json");
    std::fs::write(&state, "{\"version\": 1, \"files\": [{").expect("writes");
    let toml =
        format!("[sources.in]\ntype = \"file\"\npath = {input:?}\ncheckpoint_path = {state:?}\n[sinks.out]\ntype = \"memory\"\ninputs = [\"in\"]\n");
    let values = crate::support::run_to_end(&toml).await;
    assert_eq!(numbers(&values, "n"), (0..10).collect::<Vec<_>>());
    assert_eq!(std::fs::read_to_string(dir.path().join("checkpoints.json.corrupt")).expect("kept"), "{\"version\": 1, \"files\": [{");
    let saved = checkpoints(&state).expect("written anew");
    assert_eq!(saved["files"][0]["line"], 10);
    // Run again: everything was delivered, so nothing is read twice.
    assert_eq!(crate::support::run_to_end(&toml).await, Vec::<Value>::new());
}

/// A sink that fails the message whose `n` is `fail`, and delivers the others.
#[derive(Debug, Clone)]
struct FailOne {
    fail: Option<u64>,
}

#[runnel_engine::async_trait]
impl runnel_engine::BlockConfig for FailOne {
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    async fn build(&self, _: &runnel_engine::BuildContext) -> Result<runnel_engine::BuiltBlock, runnel_engine::BuildError> {
        Ok(runnel_engine::BuiltBlock::task(self.clone()))
    }
}

#[runnel_engine::async_trait]
impl runnel_engine::Block for FailOne {
    async fn run(self: Box<Self>, mut cx: runnel_engine::RunContext) -> Result<(), runnel_engine::BlockError> {
        while let Some(batch) = cx.input.next().await {
            for message in batch {
                let fails = message.value()["n"].as_u64() == self.fail;
                message.ack(if fails { runnel_engine::AckStatus::Failed } else { runnel_engine::AckStatus::Delivered });
            }
        }
        Ok(())
    }
}

/// A line that fails downstream holds its file's checkpoint before its batch: the lines after it
/// are still read, and a restart reads them all again.
#[tokio::test]
async fn a_line_that_failed_downstream_is_read_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, lines(0..20, "n")).expect("writes");
    let state = dir.path().join("checkpoints.json");
    let run = |fail: Option<u64>| {
        let source: runnel_connectors::FileSourceConfig =
            toml::from_str(&format!("path = {input:?}\ncheckpoint_path = {state:?}")).expect("a file source");
        let settings = runnel_engine::PipelineSettings { batch_size: std::num::NonZeroUsize::new(5).expect("5"), ..Default::default() };
        let pipeline = runnel::PipelineBuilder::new().with_settings(settings).source("in", source).sink("out", ["in"], FailOne { fail }).build();
        async move { pipeline.expect("valid").start().await.expect("starts").wait().await.expect("runs") }
    };
    run(Some(7)).await;
    // Batches of five lines: the second holds {"n":7}, so only the first is behind the checkpoint.
    let saved = checkpoints(&state).expect("checkpoints");
    assert_eq!((saved["files"][0]["line"].as_u64(), saved["files"][0]["offset"].as_u64()), (Some(5), Some(5 * 8)), "{saved}");
    run(None).await;
    assert_eq!(checkpoints(&state).expect("checkpoints")["files"][0]["line"], 20);
}
