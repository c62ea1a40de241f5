//! The chat app, `pipelines/chat.toml`, run by the real binary: used from headless Chromium
//! (Debian's chromium driven by playwright-core, `tests/browser/chat.mjs`), and restarted to
//! show that history comes back from the store.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{free_addr, http_get, peers_required, root, runnel_bin, wait_for};
use crate::websocket::peer::Peer;

const TOKEN: &str = "chat-test-token";

/// `runnel run pipelines/chat.toml`, killed when dropped.
struct Chat(Child);

impl Chat {
    fn start(addr: std::net::SocketAddr, log: &Path) -> Self {
        Self::start_with_metrics(addr, log, None)
    }

    fn start_with_metrics(addr: std::net::SocketAddr, log: &Path, metrics: Option<std::net::SocketAddr>) -> Self {
        let metrics = metrics.map_or_else(|| "--no-metrics".to_owned(), |m| format!("--metrics-addr={m}"));
        let child = Command::new(runnel_bin())
            .args(["run", &metrics, "--progress", "never"])
            .arg(root().join("pipelines/chat.toml"))
            .env("CHAT_ADDR", addr.to_string())
            .env("CHAT_LOG", log)
            .env("CHAT_TOKEN", TOKEN)
            .env("RUNNEL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("runnel starts");
        let chat = Self(child);
        wait_for("the chat page", 30, || http_get(addr, "/").filter(|(status, _)| *status == 200));
        chat
    }

    /// Stops it as an operator would (SIGTERM) and checks it drained and exited cleanly.
    fn stop(mut self) {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        let status = self.0.wait().expect("runnel exits");
        assert!(status.success(), "runnel exited with {status}");
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether Node, playwright-core (tests/browser) and Chromium are installed; in CI they must be.
pub(crate) fn browser_ready() -> bool {
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let playwright = root().join("tests/browser/node_modules/playwright-core").is_dir();
    let chromium = Path::new("/usr/bin/chromium").exists();
    let ready = node && playwright && chromium;
    assert!(ready || !peers_required(), "node {node}, playwright-core {playwright}, chromium {chromium}: scripts/test.sh installs them");
    if !ready {
        eprintln!("skipping: the browser test needs node, tests/browser/node_modules and /usr/bin/chromium (run scripts/test.sh)");
    }
    ready
}

/// The server's metrics are on /metrics, and the exposition passes `promtool check metrics`.
fn check_metrics(addr: std::net::SocketAddr) {
    let (_, body) = http_get(addr, "/metrics").expect("/metrics answers");
    for series in [
        "runnel_websocket_server_clients{node=\"ws\"}",
        "runnel_websocket_server_refused_total{node=\"ws\",reason=\"unauthorized\"} 2",
        "runnel_websocket_server_frames_sent_total{node=\"ws\"}",
        "runnel_websocket_server_disconnects_total{node=\"ws\",reason=\"closed\"}",
    ] {
        assert!(body.contains(series), "{series} missing from:\n{body}");
    }
    crate::support::assert_promtool_accepts(&body);
}

fn stored(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("the store holds JSON lines")).collect()
}

#[test]
fn the_chat_app_works_in_chromium() {
    if !browser_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("chat.ndjson");
    let (addr, metrics) = (free_addr(), free_addr());
    let chat = Chat::start_with_metrics(addr, &log, Some(metrics));
    let (status, page) = http_get(addr, "/").expect("the page");
    assert_eq!(status, 200);
    assert!(page.contains("<title>runnel chat</title>"));
    assert_eq!(http_get(addr, "/ws").map(|r| r.0), Some(401), "no token, no WebSocket");

    let run = Command::new("node")
        .arg(root().join("tests/browser/chat.mjs"))
        .args([format!("http://{addr}"), TOKEN.to_owned()])
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&run.stdout);
    println!("{report}{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the browser checks failed:\n{report}");
    assert_eq!(report.lines().filter(|l| l.starts_with("ok - ")).count(), 9, "{report}");
    check_metrics(metrics);

    chat.stop();
    let texts: Vec<Value> = stored(&log).into_iter().map(|m| m["text"].clone()).collect();
    for text in ["hello from ann", "hi ann, bob here", "after cat came", "only in the garden"] {
        assert!(texts.contains(&json!(text)), "{text} not stored: {texts:?}");
    }
    assert!(!texts.contains(&json!("/whoami")), "commands are answered, not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_comes_back_from_the_store_after_a_restart() {
    if crate::websocket::peer::python().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("chat.ndjson");
    let addr = free_addr();
    let url = format!("ws://{addr}/ws?token={TOKEN}&user=ann&subscribe=chat/pub/lobby");

    let chat = Chat::start(addr, &log);
    let mut ann = Peer::start(&["client", "--url", &url]).await.expect("python");
    for text in ["first", "second"] {
        ann.command(&format!("send {}", json!({"op": "publish", "channel": "chat/out", "data": {"room": "lobby", "text": text}}))).await;
        loop {
            let frame = ann.frame().await;
            if frame["data"]["text"] == text {
                break;
            }
        }
    }
    drop(ann);
    tokio::task::spawn_blocking(move || chat.stop()).await.expect("stops");
    assert_eq!(stored(&log).len(), 2);

    let _chat = Chat::start(addr, &log);
    let mut bob = Peer::start(&["client", "--url", &url.replace("user=ann", "user=bob")]).await.expect("python");
    assert_eq!(bob.frame().await["op"], "welcome");
    assert_eq!(bob.frame().await, json!({"op": "subscribed", "channel": "chat/pub/lobby", "history": 2}));
    for text in ["first", "second"] {
        let frame = bob.frame().await;
        assert_eq!((frame["data"]["text"].clone(), frame["history"].clone()), (json!(text), json!(true)), "{frame}");
        assert_eq!(frame["data"]["user"], "ann");
    }
}
