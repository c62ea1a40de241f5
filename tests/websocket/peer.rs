//! Real WebSocket peers in a child process: `tests/websocket/peer.py` run by the Python venv that
//! scripts/test.sh prepares (`.peers/websocket`). Each prints JSON events, one per line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::support::{peers_required, root};

/// How long a test waits for one event of a peer.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// The venv's Python, if it has `websockets` (in CI a missing peer fails the test).
pub(crate) fn python() -> Option<PathBuf> {
    let python = root().join(".peers/websocket/bin/python");
    let found = std::process::Command::new(&python).args(["-c", "import websockets"]).output().is_ok_and(|o| o.status.success());
    assert!(found || !peers_required(), "{} with `websockets` is missing; scripts/test.sh installs it", python.display());
    if !found {
        eprintln!("skipping: no Python `websockets` peer (run scripts/test.sh)");
    }
    found.then_some(python)
}

/// A running peer.
pub(crate) struct Peer {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// Starts `peer.py` with `args`, or `None` when there is no Python peer here.
    pub(crate) async fn start(args: &[&str]) -> Option<Self> {
        let python = python()?;
        let mut child = Command::new(python)
            .arg(root().join("tests/websocket/peer.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the peer starts");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Some(Self { _child: child, stdin, lines })
    }

    /// The next event the peer printed.
    pub(crate) async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(EVENT_TIMEOUT, self.lines.next_line())
            .await
            .expect("the peer answers in time")
            .expect("the peer's output is readable")
            .expect("the peer is still running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer printed `{line}`: {e}"))
    }

    /// Skips events until one called `event`, and returns it.
    pub(crate) async fn until(&mut self, event: &str) -> Value {
        loop {
            let next = self.next().await;
            if next["event"] == event {
                return next;
            }
        }
    }

    /// The data of the next frame a client peer received.
    pub(crate) async fn frame(&mut self) -> Value {
        self.until("frame").await["data"].take()
    }

    /// The port a server peer listens on (its first event).
    pub(crate) async fn port(&mut self) -> u16 {
        let listening = self.until("listening").await;
        listening["port"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("a port")
    }

    /// Sends a command line to the peer.
    pub(crate) async fn command(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.expect("the peer reads commands");
        self.stdin.flush().await.expect("flushes");
    }
}
