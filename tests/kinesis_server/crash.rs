//! Durability: `runnel run` serving `kinesis_server` → `file` is SIGKILLed several times while a
//! boto3 producer puts records; every record whose `PutRecords` entry succeeded reaches the file
//! after the restarts, and none that never succeeded does.
//!
//! Scale it with `RUNNEL_KINESIS_CRASH_RECORDS` (records, 100,000 by default, as the issue asks) and
//! `RUNNEL_KINESIS_CRASH_KILLS` (3 by default): `RUNNEL_KINESIS_CRASH_RECORDS=100000
//! RUNNEL_KINESIS_CRASH_KILLS=10 cargo test --release --test tests kinesis_server::crash`.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::python;
use crate::support::{Killed, free_addr, runnel_bin, wait_for};

/// Puts records `0..count` (each `{"id": n}`) in batches of 500 and appends the id of every
/// entry answered with a sequence number to `acked`; entries that failed (throttled, or the
/// request got no answer because runnel was killed) are sent again. Own retries only: botocore's
/// are off, so an id is written once it is stored, never guessed.
const PRODUCER: &str = r#"
import sys, json, time, boto3, botocore
from botocore.config import Config
url, count, acked_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
k = boto3.client("kinesis", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                 config=Config(retries={"max_attempts": 0}, connect_timeout=2, read_timeout=10))
pending = list(range(count))
acked = open(acked_path, "a")
failures = 0
while pending:
    batch, pending = pending[:500], pending[500:]
    try:
        answer = k.put_records(StreamName="crash", Records=[{"Data": json.dumps({"id": n}).encode(), "PartitionKey": "key-%d" % (n % 97)} for n in batch])
    except Exception:
        failures += 1
        pending = batch + pending
        time.sleep(0.05)
        continue
    retry = []
    for n, entry in zip(batch, answer["Records"]):
        if "SequenceNumber" in entry:
            acked.write("%d\n" % n)
        else:
            retry.append(n)
    acked.flush()
    pending = retry + pending
print(json.dumps({"failed_requests": failures}))
"#;

fn start_runnel(pipeline: &Path) -> Child {
    Command::new(runnel_bin())
        .args(["run", "--no-metrics", pipeline.to_str().expect("utf-8")])
        .env("RUNNEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts")
}

fn acked(path: &Path) -> Vec<u64> {
    // A line cut short is being written: not counted yet.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n').filter(|l| l.ends_with('\n')).filter_map(|l| l.trim().parse().ok()).collect()
}

/// The ids in the file sink's whole lines (a line cut short by a kill is not a delivery).
fn delivered(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let data = STANDARD.decode(v["kinesis"]["data"].as_str()?).ok()?;
            serde_json::from_slice::<Value>(&data).ok()?["id"].as_u64()
        })
        .collect()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn every_record_answered_as_stored_is_delivered_after_sigkills_of_runnel() {
    let Some(python) = python() else { return };
    let (records, kills) = (env_or("RUNNEL_KINESIS_CRASH_RECORDS", 100_000), env_or("RUNNEL_KINESIS_CRASH_KILLS", 3));
    let dir = tempfile::tempdir().expect("temporary folder");
    let address = free_addr();
    let (file, output, acked_path) = (dir.path().join("p.toml"), dir.path().join("out.ndjson"), dir.path().join("acked.txt"));
    std::fs::write(
        &file,
        format!(
            "[sources.k]\ntype = \"kinesis_server\"\naddress = \"{address}\"\nstreams = [{{ name = \"crash\", shards = 4 }}]\n\
             [sinks.out]\ntype = \"file\"\ninputs = [\"k\"]\npath = \"out.ndjson\"\n"
        ),
    )
    .expect("writes");
    let listening = || std::net::TcpStream::connect(address).ok();
    let mut runnel = Killed(start_runnel(&file));
    wait_for("runnel to listen", 60, listening);
    let mut producer = Killed(
        Command::new(&python)
            .arg("-c")
            .arg(PRODUCER)
            .args([&format!("http://{address}"), &records.to_string(), acked_path.to_str().expect("utf-8")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs"),
    );
    for kill in 1..=kills {
        // Kill while the producer is part-way: after a share of the records was answered.
        let mark = records * kill / (kills + 1);
        wait_for("the producer to get further", 120, || (acked(&acked_path).len() as u64 >= mark).then_some(()));
        runnel.0.kill().expect("SIGKILL");
        runnel.0.wait().expect("exits");
        runnel = Killed(start_runnel(&file));
        wait_for("runnel to listen again", 60, listening);
    }
    let finished = producer.0.wait().expect("the producer exits");
    let mut report = String::new();
    producer.0.stdout.take().expect("stdout").read_to_string(&mut report).expect("reads");
    let mut errors = String::new();
    producer.0.stderr.take().expect("stderr").read_to_string(&mut errors).expect("reads");
    assert!(finished.success(), "{errors}");

    let answered: HashSet<u64> = acked(&acked_path).into_iter().collect();
    assert_eq!(answered.len() as u64, records, "the producer stored every record in the end");
    wait_for("every stored record in the file", 120, || {
        let got: HashSet<u64> = delivered(&output).into_iter().collect();
        answered.is_subset(&got).then_some(())
    });
    let status = Command::new("kill").args(["-TERM", &runnel.0.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    runnel.0.wait().expect("exits");
    let all = delivered(&output);
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for id in &all {
        *seen.entry(*id).or_default() += 1;
    }
    let missing = answered.iter().filter(|id| !seen.contains_key(id)).count();
    let unknown: Vec<u64> = seen.keys().filter(|id| **id >= records).copied().collect();
    let duplicates: u32 = seen.values().map(|times| times - 1).sum();
    eprintln!("kinesis_server crash test: {records} records, {kills} SIGKILLs: missing {missing}, duplicates {duplicates}, producer {report}");
    assert_eq!(missing, 0);
    assert!(unknown.is_empty(), "records that were never put: {unknown:?}");
    // A restart emits again only what was delivered after the last saved checkpoint: emitting
    // every record again after each restart would pass this.
    assert!(u64::from(duplicates) < records, "{duplicates} duplicates");
}
