//! The `kinesis_server` source against real clients: boto3 and the AWS CLI against runnel, the
//! same calls against kinesalite and runnel (key sets of the answers and error types compared),
//! bad input, and durability across SIGKILLs of `runnel run` while boto3 puts records.

mod clients;
mod crash;
mod source;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::peers_required;

/// The peer at env `var`, or `None` (with a note) when it is unset outside CI.
fn peer(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(!peers_required(), "{var} is not set: scripts/test.sh installs {what}");
            eprintln!("skipping: {var} is not set (scripts/test.sh installs {what})");
            None
        }
    }
}

/// The Python with boto3 (`RUNNEL_KINESIS_PYTHON`).
fn python() -> Option<PathBuf> {
    peer("RUNNEL_KINESIS_PYTHON", "boto3").map(PathBuf::from)
}

/// Runs `script` with boto3's Python and `args`; its standard output as JSON.
fn run_python(python: &PathBuf, script: &str, args: &[&str]) -> Value {
    let out = Command::new(python).arg("-c").arg(script).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A stream name no other run uses (kinesalite is shared).
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}
