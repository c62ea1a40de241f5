//! The `http_server` source's memory under a flood of large uploads: the `runnel` binary's peak
//! resident memory stays within what the limits allow (`max_body_bytes` × `max_concurrent_requests`,
//! a few copies each, over the process's resident memory at rest), and every upload answered
//! 202 is in the file sink after SIGTERM.

use std::process::{Command, Stdio};

use crate::http_server::{curl, have_curl, listening_address};
use crate::support::{Killed, runnel_bin, wait_for};

const BODY_LIMIT: u64 = 2 << 20;
const CONCURRENT: u64 = 4;
/// Copies of a body a request may hold at once: the body read, its base64 in the message (4/3),
/// the sink's encoded line (4/3), and allocator slack.
const COPIES: u64 = 4;
/// Room for what the flood holds besides the bodies: connections refused with 503 and their
/// buffers, task stacks, the allocator's caches.
const SLACK: u64 = 48 << 20;

/// A field of `/proc/<pid>/status` (such as `VmHWM`, the peak resident memory), in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("kB") * 1024
}

#[test]
fn a_flood_of_large_uploads_keeps_peak_memory_within_the_limits() {
    if !have_curl() || !std::path::Path::new("/proc/self/status").exists() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let upload = dir.path().join("upload.bin");
    // Just under the limit, of bytes that base64 and JSON cannot shrink.
    let body: Vec<u8> = (0..BODY_LIMIT - 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&upload, &body).expect("writes");
    let file = dir.path().join("p.toml");
    let toml = format!(
        "[pipeline]\ncapacity = 1\nbatch_size = 1\n\
         [sources.up]\ntype = \"http_server\"\naddress = \"127.0.0.1:0\"\nmax_body_bytes = {BODY_LIMIT}\nmax_concurrent_requests = {CONCURRENT}\n\
         backpressure_timeout_ms = 3000\nroutes = [{{ path = \"/up\", body = \"binary\" }}]\n\
         [sinks.file]\ntype = \"file\"\ninputs = [\"up\"]\npath = \"{}\"\n",
        out.display()
    );
    std::fs::write(&file, toml).expect("writes");
    let child =
        Command::new(runnel_bin()).args(["run", "--no-metrics", file.to_str().expect("utf-8")]).stderr(Stdio::piped()).spawn().expect("starts");
    let mut child = Killed(child);
    let pid = child.0.id();
    let (addr, stderr) = listening_address(child.0.stderr.take().expect("piped"));
    let at_rest = status_bytes(pid, "VmRSS");
    let url = format!("http://{addr}/up");
    let data = format!("@{}", upload.display());
    // Four times as many clients as requests the server handles at once.
    let clients: Vec<_> = (0..CONCURRENT * 4)
        .map(|_| {
            let (url, data) = (url.clone(), data.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for _ in 0..3 {
                    // No `Expect: 100-continue`, whose interim answer would come first.
                    let answer = curl(&[url.as_str(), "-H", "Expect:", "-H", "Content-Type: application/octet-stream", "--data-binary", &data]);
                    statuses.push(answer.map_or(0, |a| a.status));
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<u16> = clients.into_iter().flat_map(|c| c.join().expect("client thread")).collect();
    let peak = status_bytes(pid, "VmHWM");
    let accepted = statuses.iter().filter(|&&s| s == 202).count();
    // 0: curl read no answer. A request refused with 503 before its body was read has its
    // connection closed while curl may still be sending, and the reset can reach curl first.
    assert!(statuses.iter().all(|s| [0, 202, 503].contains(s)), "{statuses:?}");
    assert!(accepted as u64 >= CONCURRENT, "{accepted} accepted: {statuses:?}");
    let bound = at_rest + BODY_LIMIT * CONCURRENT * COPIES + SLACK;
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    eprintln!(
        "uploads of {:.1} MiB: {accepted} accepted, {} refused (503 or reset); resident at rest {:.1} MiB, peak {:.1} MiB, bound {:.1} MiB",
        mib(BODY_LIMIT),
        statuses.len() - accepted,
        mib(at_rest),
        mib(peak),
        mib(bound)
    );
    assert!(peak <= bound, "peak resident memory {:.1} MiB over the bound {:.1} MiB", mib(peak), mib(bound));

    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exited = wait_for("the process to exit", 60, || child.0.try_wait().expect("waits"));
    let stderr = stderr.join().expect("the stderr reader");
    assert!(exited.success(), "exit {exited:?}: {stderr}");
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(written.lines().count(), accepted, "every upload answered 202 is in the file");
    let first: serde_json::Value = serde_json::from_str(written.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["bytes"].as_u64(), Some(BODY_LIMIT - 1024));
}
