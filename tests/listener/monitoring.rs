//! The monitoring endpoint (`/metrics`, `/health`, `/ready`) within its listener limits.

use std::time::Duration;

use runnel::{ListenerLimits, PipelineMetrics, metric_names};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{WAIT, get, half_open, is_refusal, pending, sample, start_monitoring, until_closed};
use crate::websocket::eventually;

const QUICK: ListenerLimits = ListenerLimits { header_read_timeout: Duration::from_millis(300), ..ListenerLimits::MONITORING };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_request_line_is_closed_after_the_header_read_timeout() {
    let metrics = PipelineMetrics::new();
    let (addr, stop) = start_monitoring(&metrics, QUICK).await;
    let started = tokio::time::Instant::now();
    let mut client = half_open(addr).await;
    until_closed(&mut client).await;
    assert!(started.elapsed() >= Duration::from_millis(250), "closed by the timeout, after {:?}", started.elapsed());
    eventually("the connection to be released", || pending(&metrics, "metrics") == 0.0).await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_once_idle_for_the_header_read_timeout() {
    let metrics = PipelineMetrics::new();
    let (addr, stop) = start_monitoring(&metrics, QUICK).await;
    let mut client = TcpStream::connect(addr).await.expect("connects");
    client.write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.expect("writes");
    let mut head = vec![0; 512];
    let n = tokio::time::timeout(WAIT, client.read(&mut head)).await.expect("an answer in time").expect("reads");
    let answer = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("{\"ok\":true}"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("connection: close"), "kept alive: {answer}");
    until_closed(&mut client).await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_pending_cap_connections_are_refused_and_counted_until_one_closes() {
    let metrics = PipelineMetrics::new();
    let limits = ListenerLimits { max_pending: 4, header_read_timeout: Duration::from_secs(60), ..ListenerLimits::MONITORING };
    let (addr, stop) = start_monitoring(&metrics, limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(half_open(addr).await);
    }
    eventually("4 pending connections", || pending(&metrics, "metrics") == 4.0).await;
    let mut fifth = TcpStream::connect(addr).await.expect("connects: the kernel accepts it");
    let response = until_closed(&mut fifth).await;
    assert!(is_refusal(&response), "{}", String::from_utf8_lossy(&response));

    drop(held.pop());
    eventually("a place to be free", || pending(&metrics, "metrics") == 3.0).await;
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&body, metric_names::LISTENER_REFUSED, "listener=\"metrics\",reason=\"max_pending\""), Some(1.0), "{body}");
    assert_eq!(sample(&body, metric_names::LISTENER_PENDING, "listener=\"metrics\""), Some(4.0), "the 3 held and this request");
    assert_eq!(sample(&body, metric_names::LISTENER_ACCEPT_ERRORS, "listener=\"metrics\""), Some(0.0));
    crate::support::assert_promtool_accepts(&body);
    stop.cancel();
}
