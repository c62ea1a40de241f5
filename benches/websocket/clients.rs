//! The load: subscribers that record each message's latency, and one publisher, either flat out
//! with a bounded window (throughput) or at a fixed rate (latency at light load).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Messages the publisher may be ahead of the slowest subscriber when flat out.
const WINDOW: u64 = 512;
/// How long connecting, or waiting for the slowest subscriber, may take before the run fails.
const STALL: Duration = Duration::from_secs(30);

/// The subscribers of one run.
pub(crate) struct Subscribers {
    /// Messages each subscriber has received.
    received: Arc<Vec<AtomicU64>>,
    tasks: Vec<JoinHandle<Vec<u32>>>,
}

/// What the subscribers measured.
pub(crate) struct Measured {
    /// Messages delivered to subscribers, over all of them.
    pub(crate) delivered: u64,
    /// Latency of every delivery, in microseconds, sorted.
    pub(crate) latencies: Vec<u32>,
}

impl Measured {
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let at = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len().saturating_sub(1));
        Duration::from_micros(u64::from(self.latencies.get(at).copied().unwrap_or(0)))
    }
}

impl Subscribers {
    /// Connects `count` subscribers to `url` and waits until each is subscribed.
    pub(crate) async fn connect(url: &str, count: usize, epoch: Instant, messages: u64) -> Self {
        let received: Arc<Vec<AtomicU64>> = Arc::new((0..count).map(|_| AtomicU64::new(0)).collect());
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(count);
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            let (url, received, ready) = (url.to_owned(), received.clone(), ready_tx.clone());
            tasks.push(tokio::spawn(async move {
                let connect = tokio_tungstenite::connect_async(url);
                let (mut ws, _) = tokio::time::timeout(STALL, connect).await.expect("connects in time").expect("connects");
                while let Some(Ok(frame)) = ws.next().await {
                    if frame.to_text().is_ok_and(|t| t.contains(r#""op":"subscribed""#)) {
                        break;
                    }
                }
                let _ = ready.send(()).await;
                let mut latencies = Vec::with_capacity(messages as usize);
                while let Some(Ok(frame)) = ws.next().await {
                    let Ok(text) = frame.to_text() else { continue };
                    let Ok(value) = serde_json::from_str::<Value>(text) else { continue };
                    let sent = value["t"].as_u64().unwrap_or(0);
                    let now = epoch.elapsed().as_micros() as u64;
                    latencies.push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
                    received[i].fetch_add(1, Ordering::Relaxed);
                    if value["last"] == true {
                        break;
                    }
                }
                latencies
            }));
        }
        drop(ready_tx);
        for _ in 0..count {
            ready_rx.recv().await.expect("every subscriber gets ready");
        }
        Self { received, tasks }
    }

    fn slowest(&self) -> u64 {
        self.received.iter().map(|r| r.load(Ordering::Relaxed)).min().unwrap_or(0)
    }

    /// Waits for every subscriber to have received the last message, for `limit` at most.
    pub(crate) async fn finish(self, limit: Duration) -> Measured {
        let deadline = tokio::time::Instant::now() + limit;
        let mut latencies = Vec::new();
        for task in self.tasks {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(mine)) => latencies.extend(mine),
                _ => eprintln!("a subscriber did not get the last message in time"),
            }
        }
        let delivered = self.received.iter().map(|r| r.load(Ordering::Relaxed)).sum();
        latencies.sort_unstable();
        Measured { delivered, latencies }
    }
}

/// Publishes `messages` messages to `url`; flat out (at most [`WINDOW`] ahead of the slowest
/// subscriber) when `rate` is `None`, else at `rate` per second. Returns when the last was sent.
pub(crate) async fn publish(url: &str, messages: u64, rate: Option<f64>, epoch: Instant, subscribers: &Subscribers) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("the publisher connects");
    let start = Instant::now();
    for seq in 0..messages {
        match rate {
            Some(rate) => tokio::time::sleep_until((start + Duration::from_secs_f64(seq as f64 / rate)).into()).await,
            None => {
                let stuck_since = Instant::now();
                while seq >= subscribers.slowest() + WINDOW {
                    assert!(stuck_since.elapsed() < STALL, "a subscriber stopped receiving");
                    // Sleeping, not spinning: the clients share the cores with the server.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let t = epoch.elapsed().as_micros() as u64;
        let last = seq + 1 == messages;
        let frame = json!({"op": "publish", "channel": "bench", "data": {"seq": seq, "t": t, "last": last, "text": "a chat message of a typical size, about a hundred bytes long...."}});
        ws.send(Message::text(frame.to_string())).await.expect("the publisher sends");
    }
    // Close politely and read until the server's answer: dropping a socket with unread data
    // (runnel's welcome frame) resets the connection, and the server would lose what it had
    // not read yet.
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
}
