//! The hand-written sender: what a program that posts an NDJSON file's events with reqwest
//! would do, tuned (one pooled client, requests at once up to the same limit, each body built in
//! one buffer), doing the same work as the pipeline: each line parsed as JSON and written again,
//! one request per event or a JSON array per batch, every answer checked for a 2xx.

use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// Posts every event of `input` to `url`, `batch` events per request (a single event is sent as
/// itself, more as a JSON array), with at most `concurrency` requests in flight.
pub(crate) async fn run(input: &Path, url: &str, batch: usize, concurrency: usize) {
    let client = reqwest::Client::builder().build().expect("a client");
    let text = tokio::fs::read(input).await.expect("reads the input");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut in_flight = FuturesUnordered::new();
    for chunk in lines.chunks(batch) {
        if in_flight.len() >= concurrency {
            in_flight.next().await;
        }
        in_flight.push(send(&client, url, body(chunk, batch > 1)));
    }
    while in_flight.next().await.is_some() {}
}

/// The body of `lines`: the one event, or a JSON array of them.
fn body(lines: &[&[u8]], array: bool) -> Bytes {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 2);
    if array {
        body.push(b'[');
    }
    for (i, line) in lines.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_slice(line).expect("JSON");
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &value).expect("writes");
    }
    if array {
        body.push(b']');
    }
    Bytes::from(body)
}

async fn send(client: &reqwest::Client, url: &str, body: Bytes) {
    let answer = client.post(url).header("content-type", "application/json").body(body).send().await.expect("an answer");
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.bytes().await.expect("a body");
}
