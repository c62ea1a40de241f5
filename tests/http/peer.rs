//! A scripted webhook receiver: the `http` sink's peer is any HTTP server, so the tests stand one
//! up that answers as each message's `script` says. A plain HTTP/1.1 server on a socket (rather
//! than a framework) so that it can also close a connection without answering.
//!
//! A request's first message (the object, or the first element of an array) names its `id` and
//! `script`: a list of answers for its successive attempts, each `"200"`, `"500"`, `"400"`,
//! `"429"` (with `Retry-After: 1`), `"429-date"` (with `Retry-After` an HTTP date 2 s ahead), `"slow"` (answers 200 only after 2 s, past the sink's
//! timeout) or `"drop"` (closes the connection without an answer). Attempts past the script get
//! 200.

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
pub(super) struct Seen {
    /// When it was read in full.
    pub(super) at: Instant,
    /// Its path and query.
    pub(super) path: String,
    /// Its headers, names lowercased.
    pub(super) headers: HashMap<String, String>,
    /// Its body.
    pub(super) body: Vec<u8>,
    /// The status answered, once answered; `None` for `slow` and `drop`.
    pub(super) answered: Option<u16>,
    /// When the answer was written.
    pub(super) answered_at: Option<Instant>,
}

impl Seen {
    /// The messages of the body: the array's elements, the body itself, or its NDJSON lines.
    pub(super) fn messages(&self) -> Vec<Value> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Array(items)) => items,
            Ok(one) => vec![one],
            Err(_) => self.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter_map(|l| serde_json::from_slice(l).ok()).collect(),
        }
    }

    fn first_id(&self) -> Option<i64> {
        self.messages().first().and_then(|m| m["id"].as_i64())
    }
}

/// The running peer.
pub(super) struct Peer {
    /// Where it listens.
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    count: watch::Receiver<usize>,
}

impl Peer {
    /// Listens on a free port of 127.0.0.1.
    pub(super) async fn start() -> Self {
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
    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests were answered (or dropped).
    pub(super) async fn wait_for_requests(&mut self, n: usize) {
        self.count.wait_for(|&c| c >= n).await.expect("the peer runs");
    }

    /// The requests whose first message has id `id`.
    pub(super) fn attempts(&self, id: i64) -> Vec<Seen> {
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
        let step = request
            .messages()
            .first()
            .and_then(|m| m["script"].get(attempt).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "200".to_owned());
        let index = {
            let mut all = seen.lock().expect("lock");
            all.push(request.clone());
            all.len() - 1
        };
        let answer = match step.as_str() {
            "drop" => None,
            "slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Some((200, String::new(), "ok".to_owned()))
            }
            "429" => Some((429, "Retry-After: 1\r\n".to_owned(), "slow down".to_owned())),
            // Two seconds ahead, written to the second: a wait of more than 1 s.
            "429-date" => {
                let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
                Some((429, format!("Retry-After: {at}\r\n"), "slow down".to_owned()))
            }
            "400" => Some((400, String::new(), format!("bad request: {}", "x".repeat(300)))),
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
    let path = line.split_whitespace().nth(1)?.to_owned();
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
    Some(Seen { at: Instant::now(), path, headers, body, answered: None, answered_at: None })
}
