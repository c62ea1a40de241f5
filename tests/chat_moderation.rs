//! The moderated chat, `pipelines/chat-moderation.toml`, run by the real binary with real
//! WebSocket clients (the Python `websockets` peers): its JavaScript before-publish function
//! masks banned words, rate-limits each user through `kvstore.incrCounter`, and translates a
//! room's messages through `fetch` once the room asked for it; the room's setting survives a
//! restart.
//!
//! The translation service is a stand-in written here, answering as LibreTranslate's
//! `POST /translate` does (`{q, source, target}` → `{translatedText}`): LibreTranslate itself
//! needs language models this machine cannot download.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::{free_addr, http_get, root, runnel_bin, wait_for};
use crate::websocket::peer::Peer;

const TOKEN: &str = "moderation-test-token";

/// `runnel run pipelines/chat-moderation.toml`, killed when dropped.
struct Moderated(Child);

impl Moderated {
    fn start(addr: SocketAddr, store: &Path, translator: SocketAddr) -> Self {
        let child = Command::new(runnel_bin())
            .args(["run", "--no-metrics", "--progress", "never"])
            .arg(root().join("pipelines/chat-moderation.toml"))
            .env("CHAT_ADDR", addr.to_string())
            .env("CHAT_TOKEN", TOKEN)
            .env("MODERATION_STORE", store)
            .env("RATE_LIMIT", "4")
            .env("TRANSLATE_URL", format!("http://{translator}/translate"))
            .env("RUNNEL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("runnel starts");
        let chat = Self(child);
        wait_for("the chat page", 30, || http_get(addr, "/").filter(|(status, _)| *status == 200));
        chat
    }

    /// SIGTERM, as an operator stops it; it must exit cleanly.
    fn stop(mut self) {
        let sent = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().expect("kill runs");
        assert!(sent.success());
        assert!(self.0.wait().expect("exits").success());
    }
}

impl Drop for Moderated {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stand-in translator: `[<target>] <q>` for each request, which it records.
fn translator() -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clones"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer =
                json!({"translatedText": format!("[{}] {}", request["target"].as_str().unwrap_or("?"), request["q"].as_str().unwrap_or(""))})
                    .to_string();
            record.lock().expect("lock").push(request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, seen)
}

async fn client(addr: SocketAddr, user: &str, room: &str) -> Peer {
    let url = format!("ws://{addr}/ws?token={TOKEN}&user={user}&subscribe=chat/pub/{room}");
    let mut peer = Peer::start(&["client", "--url", &url]).await.expect("python");
    assert_eq!(peer.frame().await["op"], "welcome");
    assert_eq!(peer.frame().await["op"], "subscribed");
    peer
}

async fn publish(peer: &mut Peer, room: &str, text: &str) {
    peer.command(&format!("send {}", json!({"op": "publish", "channel": "chat/out", "data": {"room": room, "text": text}}))).await;
}

/// The next chat message a client receives.
async fn delivered(peer: &mut Peer) -> Value {
    loop {
        let frame = peer.frame().await;
        if frame.get("data").is_some() {
            return frame["data"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderator_masks_limits_and_translates_and_keeps_its_settings_across_a_restart() {
    if crate::websocket::peer::python().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kvstore.sqlite");
    let (translator, requests) = translator();
    let addr = free_addr();
    let chat = Moderated::start(addr, &store, translator);

    let mut ann = client(addr, "ann", "lobby").await;
    let mut bob = client(addr, "bob", "lobby").await;

    // Banned words are masked, whole words in any case; others pass.
    publish(&mut bob, "lobby", "well DARN it, heckle the frak").await;
    let message = delivered(&mut ann).await;
    assert_eq!((message["user"].as_str(), message["text"].as_str()), (Some("bob"), Some("well **** it, heckle the ****")), "{message}");

    // Bob has sent 1 of his 4 a minute: 3 more pass, the 5th and 6th are aborted, and Ann's
    // own messages still flow. Once Ann has seen what passed, a last message of hers closes the
    // round: Bob's 5th and 6th were read long before it.
    for n in 2..=6 {
        publish(&mut bob, "lobby", &format!("bob {n}")).await;
    }
    publish(&mut ann, "lobby", "ann is not limited").await;
    let mut texts: Vec<String> = Vec::new();
    while !(texts.iter().any(|t| t == "bob 4") && texts.iter().any(|t| t == "ann is not limited")) {
        texts.push(delivered(&mut ann).await["text"].as_str().expect("text").to_owned());
    }
    publish(&mut ann, "lobby", "end of round").await;
    while texts.last().map(String::as_str) != Some("end of round") {
        texts.push(delivered(&mut ann).await["text"].as_str().expect("text").to_owned());
    }
    let bobs: Vec<&str> = texts.iter().map(String::as_str).filter(|t| t.starts_with("bob")).collect();
    assert_eq!(bobs, ["bob 2", "bob 3", "bob 4"], "{texts:?}");

    // A room asks for French; its messages then carry a translation. Nobody asked in the lobby.
    let mut cid = client(addr, "cid", "paris").await;
    publish(&mut cid, "paris", "/translate fr").await;
    assert_eq!(delivered(&mut cid).await["text"], "cid asked for translation to fr");
    publish(&mut cid, "paris", "good morning").await;
    let message = delivered(&mut cid).await;
    assert_eq!(message["translation"], json!({"fr": "[fr] good morning"}), "{message}");
    publish(&mut ann, "lobby", "no translation here").await;
    assert!(delivered(&mut ann).await.get("translation").is_none());
    assert_eq!(requests.lock().expect("lock").len(), 1, "only the room that asked calls the service");
    drop((ann, bob, cid));
    chat.stop();

    // After a restart the room still wants French (the kvstore is on disk).
    let addr = free_addr();
    let chat = Moderated::start(addr, &store, translator);
    let mut dee = client(addr, "dee", "paris").await;
    publish(&mut dee, "paris", "still here").await;
    let message = delivered(&mut dee).await;
    assert_eq!(message["translation"], json!({"fr": "[fr] still here"}), "{message}");
    drop(dee);
    chat.stop();
}
