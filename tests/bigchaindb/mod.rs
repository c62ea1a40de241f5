//! The `bigchaindb` source against a fake node (tests/bigchaindb/fake.py): BigchainDB itself
//! needs MongoDB and Tendermint, which cannot be installed here, so the fake speaks the
//! documented stream and HTTP API shapes, with the ways the real node misbehaves on command: an
//! API that lags behind the stream, dropped connections, blocks committed while no client hears.

use std::process::Stdio;
use std::time::Duration;

use runnel::RunningPipeline;
use runnel_connectors::MemoryOutput;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::support::root;

struct Fake {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    api: u16,
    ws: u16,
}

impl Fake {
    async fn start() -> Option<Self> {
        let python = crate::websocket::peer::python()?;
        let mut child = Command::new(python)
            .arg(root().join("tests/bigchaindb/fake.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the fake starts");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut fake = Self { _child: child, stdin, lines, api: 0, ws: 0 };
        let listening = fake.until("listening").await;
        let port = |name: &str| listening[name].as_u64().and_then(|p| u16::try_from(p).ok()).expect("a port");
        (fake.api, fake.ws) = (port("api"), port("ws"));
        Some(fake)
    }

    async fn until(&mut self, event: &str) -> Value {
        loop {
            let line =
                tokio::time::timeout(Duration::from_secs(20), self.lines.next_line()).await.expect("in time").expect("readable").expect("running");
            let value: Value = serde_json::from_str(&line).expect("JSON");
            if value["event"] == event {
                return value;
            }
        }
    }

    async fn command(&mut self, line: &str) -> Value {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.expect("the fake reads");
        let event = match line.split_whitespace().next() {
            Some("commit") => "committed",
            Some("drop") => "dropped",
            Some(other) => other,
            None => unreachable!(),
        };
        self.until(event).await
    }

    /// Commits a block of `n` transactions; their ids.
    async fn commit(&mut self, n: usize, operation: &str) -> Vec<String> {
        let committed = self.command(&format!("commit {n} {operation}")).await;
        committed["ids"].as_array().expect("ids").iter().map(|id| id.as_str().expect("an id").to_owned()).collect()
    }
}

struct Running {
    pipeline: RunningPipeline,
    out: MemoryOutput,
}

async fn start(fake: &Fake, extra: &str) -> Running {
    let toml = format!(
        r#"
[sources.chain]
type = "bigchaindb"
url = "http://127.0.0.1:{}"
reconnect = {{ initial_ms = 20, max_ms = 200 }}
{extra}

[sinks.out]
type = "memory"
inputs = ["chain"]
"#,
        fake.api
    );
    let pipeline = runnel::Pipeline::from_toml(&toml, &runnel::registry()).expect("a valid pipeline").start().await.expect("starts");
    let out = runnel_connectors::take_output(pipeline.resources(), "out").expect("the sink");
    Running { pipeline, out }
}

async fn next(out: &mut MemoryOutput, n: usize) -> Vec<Value> {
    let mut values = Vec::new();
    while values.len() < n {
        match tokio::time::timeout(Duration::from_secs(30), out.recv()).await {
            Ok(Some(message)) => values.push(message.into_value()),
            Ok(None) => panic!("the pipeline ended after {values:?}"),
            Err(_) => panic!("timed out after {values:?}"),
        }
    }
    values
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v["transaction_id"].as_str().expect("an id").to_owned()).collect()
}

async fn stop(running: Running) {
    running.pipeline.shutdown_token().cancel();
    running.pipeline.wait().await.expect("stops cleanly");
}

#[tokio::test]
async fn transactions_come_in_height_order_with_the_whole_transaction() {
    let Some(mut fake) = Fake::start().await else { return };
    let mut running = start(&fake, "from_height = 1").await;
    let mut expected = fake.commit(3, "").await;
    expected.extend(fake.commit(2, "").await);
    let values = next(&mut running.out, 5).await;
    assert_eq!(ids(&values), expected);
    assert_eq!(values.iter().map(|v| v["height"].as_u64().expect("height")).collect::<Vec<_>>(), vec![1, 1, 1, 2, 2]);
    for value in &values {
        assert_eq!(value["transaction"]["id"], value["transaction_id"]);
        let asset = if value["transaction"]["operation"] == "CREATE" { &value["transaction"]["id"] } else { &value["transaction"]["asset"]["id"] };
        assert_eq!(&value["asset_id"], asset);
    }
    stop(running).await;
}

#[tokio::test]
async fn filters_keep_transfers_and_what_the_condition_accepts() {
    let Some(mut fake) = Fake::start().await else { return };
    let mut running = start(&fake, "from_height = 1\noperations = [\"TRANSFER\"]\ncondition = '.transaction.metadata.lease.n % 4 != 0'").await;
    fake.commit(2, "CREATE").await;
    let transfers = fake.commit(4, "TRANSFER").await;
    let values = next(&mut running.out, 3).await;
    // Transactions 3 to 6 are the transfers; the 4th of all (n = 4) fails the condition.
    let kept: Vec<String> = transfers.iter().enumerate().filter(|(i, _)| (i + 3) % 4 != 0).map(|(_, id)| id.clone()).collect();
    assert_eq!(ids(&values), kept);
    stop(running).await;
}

#[tokio::test]
async fn an_api_behind_the_stream_is_waited_for() {
    let Some(mut fake) = Fake::start().await else { return };
    let mut running = start(&fake, "from_height = 1").await;
    // An event sent before the source listens would be lost (the stream has no replay); the
    // next block's would make up for it, but here the first one must be heard.
    fake.until("connected").await;
    fake.command("lag 700").await;
    let expected = fake.commit(2, "").await;
    assert_eq!(ids(&next(&mut running.out, 2).await), expected, "read once the API knows the block");
    stop(running).await;
}

#[tokio::test]
async fn blocks_committed_while_disconnected_are_read_after_reconnecting() {
    let Some(mut fake) = Fake::start().await else { return };
    let mut running = start(&fake, "from_height = 1").await;
    let mut expected = fake.commit(1, "").await;
    assert_eq!(ids(&next(&mut running.out, 1).await), expected);
    for _ in 0..3 {
        // Committed while no client hears of it, then the connection drops.
        fake.command("quiet").await;
        expected.extend(fake.commit(2, "").await);
        fake.command("drop").await;
        fake.command("loud").await;
    }
    expected.extend(fake.commit(1, "").await);
    let values = next(&mut running.out, 7).await;
    assert_eq!(ids(&values), expected[1..].to_vec(), "nothing missed, nothing twice");
    stop(running).await;
}

#[tokio::test]
async fn malformed_events_and_failing_api_reads_are_logged_naming_the_height_and_retried() {
    let logs = crate::ethereum::logs::Logs::capture();
    let Some(mut fake) = Fake::start().await else { return };
    let mut running = start(&fake, "from_height = 1").await;
    fake.until("connected").await;
    let first = fake.commit(1, "").await;
    assert_eq!(ids(&next(&mut running.out, 1).await), first);
    fake.command("garbage").await;
    // Block 2 is read after two HTTP 500s and an HTML page: nothing skipped.
    fake.command("fail 2 500 2").await;
    fake.command("fail 2 text 1").await;
    let second = fake.commit(2, "").await;
    assert_eq!(ids(&next(&mut running.out, 2).await), second);
    logs.expect(&["node=chain", "an event that is not JSON with a `height` was skipped", "this is not JSON"]).await;
    logs.expect(&["node=chain", "an event that is not JSON with a `height` was skipped", "no height"]).await;
    logs.expect(&[
        "node=chain",
        "height=2",
        "cannot read a committed block yet; retrying",
        "HTTP 500 Internal Server Error: {\"message\": \"Internal Server Error\"",
    ])
    .await;
    logs.expect(&["node=chain", "height=2", "cannot read a committed block yet; retrying", "not a block", "502 Bad Gateway"]).await;
    stop(running).await;
}

#[tokio::test]
async fn a_restart_resumes_after_the_last_finished_height() {
    let Some(mut fake) = Fake::start().await else { return };
    let dir = tempfile::tempdir().expect("a folder");
    let state = format!("from_height = 1\nstate_path = \"{}\"", dir.path().join("chain.json").display());
    let mut running = start(&fake, &state).await;
    let first = fake.commit(2, "").await;
    assert_eq!(ids(&next(&mut running.out, 2).await), first);
    stop(running).await;
    let saved: Value = serde_json::from_slice(&std::fs::read(dir.path().join("chain.json")).expect("a state file")).expect("JSON");
    assert_eq!(saved["finished_height"], 1);
    let mut expected = fake.commit(1, "").await;
    expected.extend(fake.commit(1, "").await);
    let mut running = start(&fake, &state).await;
    assert_eq!(ids(&next(&mut running.out, 2).await), expected, "the two blocks committed while stopped, once");
    stop(running).await;
}

#[tokio::test]
async fn the_car_leasing_pipeline_posts_a_signed_notice_per_lease_and_records_it() {
    let Some(mut fake) = Fake::start().await else { return };
    let (insurer, mut notices) = crate::support::webhook("/api/leases").await;
    let dir = tempfile::tempdir().expect("a folder");
    let file = root().join("pipelines/car-leasing.toml");
    let text = std::fs::read_to_string(&file).expect("the pipeline");
    let (api, ws) = (fake.api, fake.ws);
    let env = |name: &str| -> Option<String> {
        match name {
            "BIGCHAINDB_URL" => Some(format!("http://127.0.0.1:{api}")),
            "BIGCHAINDB_STREAM" => Some(format!("ws://127.0.0.1:{ws}/api/v1/streams/valid_transactions")),
            "INSURER_URL" => Some(format!("http://{insurer}/api/leases")),
            "LEASES_STATE" => Some(dir.path().join("leases.json").display().to_string()),
            "RECORDS" => Some(dir.path().join("records.ndjson").display().to_string()),
            "UNDELIVERED" => Some(dir.path().join("undelivered.ndjson").display().to_string()),
            _ => None,
        }
    };
    let pipeline = runnel::Pipeline::parse(&text, Some(file), &runnel::registry(), env).expect("valid");
    let running = pipeline.start().await.expect("starts");
    fake.until("connected").await;
    fake.commit(1, "CREATE").await;
    let leases = fake.commit(3, "TRANSFER").await;
    let mut received = Vec::new();
    while received.len() < 3 {
        let (notice, signed) = tokio::time::timeout(Duration::from_secs(30), notices.recv()).await.expect("in time").expect("a notice");
        assert!(signed, "signed notices");
        received.push(notice);
    }
    assert_eq!(received.iter().map(|n| n["transaction"].as_str().expect("an id").to_owned()).collect::<Vec<_>>(), leases);
    for notice in &received {
        assert!(notice["lessee"].as_str().expect("a lessee").starts_with("lessee"), "{notice}");
        assert_eq!(notice["lease"]["months"], 24, "{notice}");
        assert_eq!(notice["height"], 2);
    }
    running.shutdown_token().cancel();
    running.wait().await.expect("stops cleanly");
    let records = std::fs::read_to_string(dir.path().join("records.ndjson")).expect("records");
    assert_eq!(records.lines().count(), 3, "{records}");
}

/// The transaction ids in the output file, each with how many times it is there.
fn written(path: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        if let Some(id) = serde_json::from_str::<Value>(line).ok().and_then(|v| v["transaction_id"].as_str().map(str::to_owned)) {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test]
async fn killed_three_times_mid_stream_nothing_is_missing() {
    let Some(mut fake) = Fake::start().await else { return };
    let dir = tempfile::tempdir().expect("a folder");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[sources.chain]\ntype = \"bigchaindb\"\nurl = \"http://127.0.0.1:{}\"\nfrom_height = 1\nreconnect = {{ initial_ms = 20, max_ms = 200 }}\n\n[sinks.out]\ntype = \"file\"\ninputs = [\"chain\"]\npath = \"{}\"\n",
            fake.api,
            out.display()
        ),
    )
    .expect("writes the pipeline");
    // Blocks keep coming for the whole test.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let committer = tokio::spawn(async move {
        let mut ids = Vec::new();
        while stopped.try_recv().is_err() {
            ids.extend(fake.commit(3, "").await);
            tokio::task::yield_now().await;
        }
        // The fake lives on: the last run reads from it.
        (ids, fake)
    });
    let log = dir.path().join("runnel.log");
    let run = || {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("a log");
        crate::support::Killed(
            std::process::Command::new(crate::support::runnel_bin())
                .args(["run", "--metrics-addr", "127.0.0.1:0", pipeline.to_str().expect("utf-8")])
                .env("RUNNEL_LOG", "warn")
                .stderr(stderr)
                .spawn()
                .expect("starts"),
        )
    };
    for kill in 0..3 {
        let child = run();
        let before = written(&out).len();
        let grown = tokio::time::timeout(Duration::from_secs(60), async {
            while written(&out).len() < before + 6 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        grown.await.unwrap_or_else(|_| panic!("run {kill} wrote nothing new"));
        drop(child); // SIGKILL
    }
    let _ = stop.send(());
    let (ids, _fake) = committer.await.expect("the committer");
    let mut last = run();
    let complete = tokio::time::timeout(Duration::from_secs(60), async {
        while written(&out).len() < ids.len() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let outcome = complete.await;
    let _ = std::process::Command::new("kill").args(["-TERM", &last.0.id().to_string()]).status();
    let _ = last.0.wait();
    let counts = written(&out);
    let missing: Vec<&String> = ids.iter().filter(|id| !counts.contains_key(*id)).collect();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "bigchaindb: {} transactions committed over 3 kills; {} written, {duplicates} duplicates, {} missing",
        ids.len(),
        counts.len(),
        missing.len()
    );
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        outcome.is_ok() && missing.is_empty(),
        "{} missing, the first {:?}; runnel's log:\n{log}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
}
