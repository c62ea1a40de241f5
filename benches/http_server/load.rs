//! The clients: keep-alive connections posting the same body as fast as answers come.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// A chat event of about 180 bytes, as the throughput bench uses.
fn event(i: usize) -> String {
    format!(
        r#"{{"kind":"chat","room":"room-{}","user":"user-{}","text":"hello there, this is message number {i} of the benchmark","ts":{}}}"#,
        i % 50,
        i % 1000,
        1_700_000_000_000_u64 + i as u64
    )
}

/// A body of `messages` events: one JSON document, or NDJSON lines; and its content type.
fn body(messages: usize) -> (Bytes, &'static str) {
    if messages == 1 {
        (Bytes::from(event(0)), "application/json")
    } else {
        let lines: String = (0..messages).map(|i| event(i) + "\n").collect();
        (Bytes::from(lines), "application/x-ndjson")
    }
}

/// Posts `requests` bodies of `messages` events to `addr` from `clients` connections; returns
/// how long it took until the last answer. Every answer must be 202.
pub(crate) async fn post_all(addr: SocketAddr, messages: usize, requests: usize, clients: usize) -> Duration {
    let (payload, content_type) = body(messages);
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).tcp_nodelay(true).build().expect("a client");
    let url = format!("http://{addr}/events");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, payload, next) = (client.clone(), url.clone(), payload.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let answer = client.post(&url).header("content-type", content_type).body(payload.clone()).send().await.expect("an answer");
                    assert_eq!(answer.status().as_u16(), 202, "{}", answer.text().await.unwrap_or_default());
                    answer.bytes().await.expect("the answer's body");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client task");
    }
    started.elapsed()
}
