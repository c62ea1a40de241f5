//! The `websocket_server` source's listener: `header_read_timeout_ms`, `idle_timeout_ms` and
//! `max_pending_connections`, with real WebSocket clients beside the half-open ones.

use std::net::SocketAddr;

use futures::StreamExt;
use runnel::{ListenerLimits, RunningPipeline, metric_names};
use runnel_connectors::websocket_server::take_address;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{WAIT, get, half_open, is_refusal, pending, sample, start_monitoring, until_closed};
use crate::support::pipeline;
use crate::websocket::{eventually, metric};

/// A server with the given extra settings; its address.
async fn start(settings: &str) -> (RunningPipeline, SocketAddr) {
    let toml = format!(
        "[sources.ws]\ntype = \"websocket_server\"\naddress = \"127.0.0.1:0\"\n{settings}\n\n[sinks.out]\ntype = \"memory\"\ninputs = [\"ws\"]\n"
    );
    let running = pipeline(&toml).start().await.expect("starts");
    let addr = take_address(running.resources(), "ws").expect("listening");
    (running, addr)
}

async fn stop(running: RunningPipeline) {
    running.shutdown_token().cancel();
    tokio::time::timeout(WAIT, running.wait()).await.expect("stops in time").expect("stops cleanly");
}

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client, past its welcome frame.
async fn connect(addr: SocketAddr) -> Client {
    let connecting = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"));
    let (mut client, _) = tokio::time::timeout(WAIT, connecting).await.expect("connects in time").expect("upgrades");
    let welcome = tokio::time::timeout(WAIT, client.next()).await.expect("a welcome in time");
    let Some(Ok(Message::Text(welcome))) = welcome else { panic!("a welcome frame: {welcome:?}") };
    assert!(welcome.contains("\"op\":\"welcome\""), "{welcome}");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_request_line_is_closed_after_the_header_read_timeout() {
    let (running, addr) = start("header_read_timeout_ms = 300").await;
    let started = tokio::time::Instant::now();
    let mut client = half_open(addr).await;
    until_closed(&mut client).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(250), "closed by the timeout, after {:?}", started.elapsed());
    eventually("the connection to be released", || pending(running.metrics(), "ws") == 0.0).await;
    let _client = connect(addr).await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_pending_cap_connections_are_refused_and_counted_until_one_closes() {
    let (running, addr) = start("max_pending_connections = 4\nheader_read_timeout_ms = 60000").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(half_open(addr).await);
    }
    eventually("4 pending connections", || pending(running.metrics(), "ws") == 4.0).await;
    let mut fifth = TcpStream::connect(addr).await.expect("connects: the kernel accepts it");
    let response = until_closed(&mut fifth).await;
    assert!(is_refusal(&response), "{}", String::from_utf8_lossy(&response));
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    assert!(refused.is_err(), "a WebSocket client is refused too while the cap is reached");

    let (monitoring, stop_monitoring) = start_monitoring(running.metrics(), ListenerLimits::MONITORING).await;
    let (status, body) = get(monitoring, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&body, metric_names::LISTENER_REFUSED, "listener=\"ws\",reason=\"max_pending\""), Some(2.0), "{body}");
    assert_eq!(sample(&body, metric_names::LISTENER_PENDING, "listener=\"ws\""), Some(4.0), "{body}");
    crate::support::assert_promtool_accepts(&body);

    drop(held.pop());
    eventually("a place to be free", || pending(running.metrics(), "ws") == 3.0).await;
    let _client = connect(addr).await;
    stop_monitoring.cancel();
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn established_websockets_do_not_count_against_the_pending_cap() {
    let (running, addr) = start("max_pending_connections = 2\nheader_read_timeout_ms = 60000").await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connect(addr).await);
    }
    eventually("5 clients", || metric(running.metrics(), "runnel_websocket_server_clients", "ws") == 5.0).await;
    eventually("none pending", || pending(running.metrics(), "ws") == 0.0).await;
    let held = [half_open(addr).await, half_open(addr).await];
    eventually("2 pending connections", || pending(running.metrics(), "ws") == 2.0).await;
    let mut third = TcpStream::connect(addr).await.expect("connects");
    assert!(is_refusal(&until_closed(&mut third).await), "the cap counts the half-open connections only");
    drop(held);
    eventually("the half-open ones to be released", || pending(running.metrics(), "ws") == 0.0).await;
    clients.push(connect(addr).await);
    assert_eq!(metric(running.metrics(), "runnel_websocket_server_clients", "ws"), 6.0);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_response_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = 16 << 20;
    std::fs::write(dir.path().join("big.bin"), vec![b'x'; size]).expect("writes");
    let static_dir = format!("static_dir = {:?}", dir.path().display().to_string());
    let (running, addr) = start(&format!("{static_dir}\nidle_timeout_ms = 1000\nheader_read_timeout_ms = 60000")).await;
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small receive buffer");
    let mut client = socket.connect(addr).await.expect("connects");
    client.write_all(format!("GET /big.bin HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.expect("writes");
    // Read nothing yet: reading would let the response go on.
    eventually("the request to be served", || pending(running.metrics(), "ws") == 1.0).await;
    eventually("the stalled response to be cut off", || pending(running.metrics(), "ws") == 0.0).await;
    let got = until_closed(&mut client).await;
    assert!(got.len() < size, "the client got {} of {size} bytes", got.len());
    stop(running).await;
}
