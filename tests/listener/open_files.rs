//! `runnel run` at its open-file limit: connections past it wait in the kernel's backlog while
//! `accept()` fails with `EMFILE`; the failures are logged (rate-limited) and counted, and the
//! listener serves again once descriptors are free. A refusal at the monitoring endpoint's
//! pending cap is logged too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use runnel::metric_names;

use super::sample;
use crate::support::{Killed, free_addr, http_get, runnel_bin, wait_for};

/// The open-file limit `runnel run` gets: enough to start, far fewer than the clients.
const OPEN_FILES: u32 = 128;

/// `runnel run` with a WebSocket server whose pending cap is above the open-file limit, and its
/// stderr, collected as it comes.
fn start(dir: &std::path::Path, ws: SocketAddr, metrics: SocketAddr) -> (Killed, Arc<Mutex<String>>) {
    let file = dir.join("server.toml");
    let toml = format!(
        "[sources.ws]\ntype = \"websocket_server\"\naddress = \"{ws}\"\nmax_pending_connections = 10000\nheader_read_timeout_ms = 60000\n\n\
         [sinks.out]\ntype = \"stdout\"\ninputs = [\"ws\"]\n"
    );
    std::fs::write(&file, toml).expect("writes");
    let mut child = Command::new("sh")
        .args(["-c", &format!("ulimit -n {OPEN_FILES} && exec \"$0\" \"$@\"")])
        .arg(runnel_bin())
        .args(["run", "--metrics-addr", &metrics.to_string(), file.to_str().expect("UTF-8")])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("piped");
    let log = Arc::new(Mutex::new(String::new()));
    let collected = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            collected.lock().expect("not poisoned").push_str(&(line + "\n"));
        }
    });
    (Killed(child), log)
}

fn half_open(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connects: the backlog holds what is not accepted");
    stream.write_all(b"GET /ws HT").expect("writes");
    stream
}

fn logged(log: &Mutex<String>, what: &str) -> Option<String> {
    let log = log.lock().expect("not poisoned");
    log.lines().find(|line| line.contains(what)).map(str::to_owned)
}

/// A WebSocket handshake by hand: whether the server switches protocols.
fn upgrades(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let mut head = [0; 12];
    stream.write_all(request.as_bytes()).is_ok() && stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 101"
}

#[test]
fn at_the_open_file_limit_failed_accepts_are_logged_counted_and_survived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ws, metrics) = (free_addr(), free_addr());
    let (_runnel, log) = start(dir.path(), ws, metrics);
    wait_for("/ready", 30, || http_get(metrics, "/ready").filter(|(s, _)| *s == 200));

    // More than the descriptors left, fewer than those and the listen backlog (128) together:
    // each connect then succeeds at once.
    let held: Vec<TcpStream> = (0..OPEN_FILES + 32).map(|_| half_open(ws)).collect();
    let line = wait_for("the failed accepts to be logged", 30, || logged(&log, "cannot accept connections"));
    assert!(line.contains("listener=ws") && line.contains("os error 24"), "{line}");
    drop(held);
    let body = wait_for("the metrics listener to answer again", 30, || http_get(metrics, "/metrics").filter(|(s, _)| *s == 200)).1;
    let failed = sample(&body, metric_names::LISTENER_ACCEPT_ERRORS, "listener=\"ws\"").expect("counted");
    assert!(failed >= 1.0, "{body}");
    wait_for("the WebSocket listener to serve again", 30, || upgrades(ws).then_some(()));

    let held: Vec<TcpStream> = (0..64).map(|_| half_open(metrics)).collect();
    let refused = wait_for("a refusal past the monitoring endpoint's 64", 30, || {
        let mut probe = TcpStream::connect(metrics).ok()?;
        // Until the 64 are all accepted, the probe may be one of them: it then hears nothing.
        probe.set_read_timeout(Some(std::time::Duration::from_secs(1))).ok()?;
        let mut answer = String::new();
        probe.read_to_string(&mut answer).ok()?;
        answer.starts_with("HTTP/1.1 503").then_some(answer)
    });
    assert!(refused.ends_with("too many connections\n"), "{refused}");
    let line = wait_for("the refusal to be logged", 30, || logged(&log, "connection refused"));
    assert!(line.contains("listener=metrics") && line.contains("max_pending=64"), "{line}");
    drop(held);
}
