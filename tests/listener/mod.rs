//! The limits of runnel's HTTP listeners (engine `HttpListener`) against raw TCP clients, on
//! both listeners that use it: the `websocket_server` source's and the monitoring endpoint's.
//! Clients that send half a request are closed after the header-read timeout; past the cap on
//! connections that are not WebSockets, new ones are refused with a 503 and counted; at the
//! process's open-file limit, failed accepts are logged and counted and the listener recovers.

mod monitoring;
mod open_files;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use runnel::{ListenerLimits, PhaseHandle, PipelineMetrics, metric_names, serve_metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The generous bound on anything the server should do within a second.
const WAIT: Duration = Duration::from_secs(20);

/// A client that sends the start of a request line, and then nothing.
async fn half_open(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(b"GET /ws HT").await.expect("writes");
    stream
}

/// Everything `stream` reads until the server closes the connection (end of file, or a reset).
/// Fails after [`WAIT`].
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0; 8192];
    let read_all = async {
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(WAIT, read_all).await.expect("the server closes the connection in time");
    got
}

/// Whether `response` is the 503 with which a listener refuses a connection.
fn is_refusal(response: &[u8]) -> bool {
    response.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n")
}

/// Connections the listener `listener` holds that are not WebSockets.
fn pending(metrics: &PipelineMetrics, listener: &str) -> f64 {
    metrics.total(metric_names::LISTENER_PENDING, Some(("listener", listener)))
}

/// The monitoring endpoint of `metrics` within `limits`, on a free port, until the token is cancelled.
async fn start_monitoring(metrics: &PipelineMetrics, limits: ListenerLimits) -> (SocketAddr, CancellationToken) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = tcp.local_addr().expect("an address");
    let stop = CancellationToken::new();
    let (metrics, until) = (metrics.clone(), stop.clone());
    tokio::spawn(async move { serve_metrics(tcp, &metrics, PhaseHandle::default(), limits, until.cancelled_owned()).await });
    (addr, stop)
}

/// A GET over HTTP/1.0: the status and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.expect("writes");
    let response = String::from_utf8(until_closed(&mut stream).await).expect("UTF-8");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("an HTTP response: {response:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, body.to_owned())
}

/// The value of the series of `family` whose labels are exactly `labels` in an exposition.
fn sample(exposition: &str, family: &str, labels: &str) -> Option<f64> {
    let series = format!("{family}{{{labels}}} ");
    exposition.lines().find_map(|line| line.strip_prefix(&series)).and_then(|value| value.parse().ok())
}
