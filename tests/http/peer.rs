//! A scripted HTTP server: the `http` sink's and block's peer is any HTTP server, so the tests
//! stand one up that answers as each request's script says. A plain HTTP/1.1 server on a socket
//! (rather than a framework) so that it can also close a connection without answering.
//!
//! A request names its `id` and `script` in its query (`?id=3&script=500.500`, the steps
//! separated by dots), or else in its body's first message (the object, or the first element of
//! an array), as `id` and a `script` list. The script lists the answers of the id's successive
//! attempts, each `"200"` (or any other status), `"429"` (with `Retry-After: 1`), `"429-date"`
//! (with `Retry-After` an HTTP date 2 s ahead), `"slow"`
//! (answers 200 only after 2 s, past the client's timeout), `"drop"` (closes the connection
//! without an answer), `"sleepN"` (answers 200 after N ms), `"text"` (a `text/plain` 200),
//! `"bytes"` (an `application/octet-stream` 200), `"badjson"` (an `application/json` 200 that
//! is not JSON) or `"big"` (a JSON 200 of 1,011 bytes). Attempts past the script get 200. A 200 answers
//! `{"path", "method", "attempt", "body"}` as JSON: what was asked, the attempt's number from 0,
//! and the request's body as JSON (or `null`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One request the peer received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// When it was read in full.
    pub(crate) at: Instant,
    /// Its method.
    pub(crate) method: String,
    /// Its path and query.
    pub(crate) path: String,
    /// Its headers, names lowercased.
    pub(crate) headers: HashMap<String, String>,
    /// Its body.
    pub(crate) body: Vec<u8>,
    /// The status answered, once answered; `None` for `slow` and `drop`.
    pub(crate) answered: Option<u16>,
    /// When the answer was written.
    pub(crate) answered_at: Option<Instant>,
}

impl Seen {
    /// The messages of the body: the array's elements, the body itself, or its NDJSON lines.
    pub(crate) fn messages(&self) -> Vec<Value> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Array(items)) => items,
            Ok(one) => vec![one],
            Err(_) => self.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter_map(|l| serde_json::from_slice(l).ok()).collect(),
        }
    }

    /// The value of query parameter `name`, as sent.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path.split_once('?')?;
        query.split('&').find_map(|pair| pair.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| v))
    }

    fn first_id(&self) -> Option<i64> {
        match self.query("id") {
            Some(id) => id.parse().ok(),
            None => self.messages().first().and_then(|m| m["id"].as_i64()),
        }
    }

    /// Step `attempt` of the request's script, `"200"` past its end.
    fn step(&self, attempt: usize) -> String {
        let step = match self.query("script") {
            Some(script) => script.split('.').nth(attempt).map(str::to_owned),
            None => self.messages().first().and_then(|m| m["script"].get(attempt).and_then(Value::as_str).map(str::to_owned)),
        };
        step.filter(|s| !s.is_empty()).unwrap_or_else(|| "200".to_owned())
    }
}

/// The running peer.
pub(crate) struct Peer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    count: watch::Receiver<usize>,
}

impl Peer {
    /// Listens on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("bound");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, count) = watch::channel(0);
        let count_tx = Arc::new(count_tx);
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone(), count_tx.clone()));
            }
        });
        Self { addr, seen, count }
    }

    /// Every request received so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests were answered (or dropped).
    pub(crate) async fn wait_for_requests(&mut self, n: usize) {
        self.count.wait_for(|&c| c >= n).await.expect("the peer runs");
    }

    /// The requests whose first message has id `id`.
    pub(crate) fn attempts(&self, id: i64) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.first_id() == Some(id)).collect()
    }
}

async fn serve(stream: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, count: Arc<watch::Sender<usize>>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some(mut request) = read_request(&mut stream).await else { return };
        let attempt = {
            let all = seen.lock().expect("lock");
            all.iter().filter(|s| s.first_id().is_some() && s.first_id() == request.first_id()).count()
        };
        let step = request.step(attempt);
        let index = {
            let mut all = seen.lock().expect("lock");
            all.push(request.clone());
            all.len() - 1
        };
        let json = "Content-Type: application/json\r\n".to_owned();
        let echo = || {
            let body = serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null);
            serde_json::json!({"path": request.path, "method": request.method, "attempt": attempt, "body": body}).to_string()
        };
        let answer = match step.as_str() {
            "drop" => None,
            "slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Some((200, json, echo()))
            }
            "429" => Some((429, "Retry-After: 1\r\n".to_owned(), "slow down".to_owned())),
            // Two seconds ahead, written to the second: a wait of more than 1 s.
            "429-date" => {
                let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
                Some((429, format!("Retry-After: {at}\r\n"), "slow down".to_owned()))
            }
            "400" => Some((400, String::new(), format!("bad request: {}", "x".repeat(300)))),
            "200" => Some((200, json, echo())),
            "text" => Some((200, "Content-Type: text/plain; charset=utf-8\r\n".to_owned(), "plain words".to_owned())),
            "bytes" => Some((200, "Content-Type: application/octet-stream\r\n".to_owned(), "\u{1}\u{2}\u{3}".to_owned())),
            "badjson" => Some((200, json, "{\"cut\": ".to_owned())),
            "big" => Some((200, json, format!("{{\"pad\":\"{}\"}}", "x".repeat(1000)))),
            sleep if sleep.starts_with("sleep") => {
                tokio::time::sleep(Duration::from_millis(sleep["sleep".len()..].parse().expect("sleepN"))).await;
                Some((200, json, echo()))
            }
            code => Some((code.parse().expect("a status"), String::new(), format!("answer {code}"))),
        };
        let Some((status, extra, body)) = answer else {
            count.send_modify(|c| *c += 1);
            return;
        };
        let text = format!("HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\n{extra}\r\n{body}", body.len());
        let written = stream.get_mut().write_all(text.as_bytes()).await;
        if written.is_ok() && step != "slow" {
            request.answered = Some(status);
            request.answered_at = Some(Instant::now());
            seen.lock().expect("lock")[index] = request;
        }
        count.send_modify(|c| *c += 1);
        if written.is_err() || step == "slow" {
            return;
        }
    }
}

async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|&n| n > 0)?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok().filter(|&n| n > 0)?;
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(Seen { at: Instant::now(), method, path, headers, body, answered: None, answered_at: None })
}
