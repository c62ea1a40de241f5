//! Unit tests of the client's pure parts: configuration checks, backoff and liveness.

use std::time::Duration;

use super::config::{KeepaliveConfig, ReconnectConfig, WebSocketSourceConfig};
use super::connect::{Backoff, Liveness, Tick};
use runnel_engine::BlockConfig;

fn source(toml_text: &str) -> WebSocketSourceConfig {
    toml::from_str(toml_text).expect("deserialises")
}

#[test]
fn urls_headers_and_ranges_are_checked() {
    let config = source("url = \"http://x\"\nheaders = { \"bad name\" = \"v\" }\nreconnect = { initial_ms = 0 }");
    let problems = config.validate();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("ws:// or wss://"));
    assert!(problems[1].contains("`bad name` is not a valid header name"));
    assert!(problems[2].contains("initial_ms"));
    assert!(source("url = \"wss://example.com/feed\"").validate().is_empty());
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter_and_resets() {
    let mut backoff = Backoff::new(ReconnectConfig { initial_ms: 100, max_ms: 1_000 }, 7);
    let delays: Vec<Duration> = (0..6).map(|_| backoff.next_delay()).collect();
    let steps = [100, 200, 400, 800, 1_000, 1_000];
    for (delay, step) in delays.iter().zip(steps) {
        let step = Duration::from_millis(step);
        assert!(*delay >= step / 2 && *delay <= step, "{delay:?} outside [{:?}, {step:?}]", step / 2);
    }
    assert_ne!(delays[4], delays[5], "jitter makes equal steps differ");
    backoff.reset();
    assert!(backoff.next_delay() <= Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_quiet_connection_gets_a_ping_then_is_declared_dead() {
    let mut liveness = Liveness::new(KeepaliveConfig { interval_ms: 1_000, timeout_ms: 300 });
    let start = tokio::time::Instant::now();
    assert_eq!(liveness.tick().await, Tick::Ping);
    assert_eq!(start.elapsed(), Duration::from_millis(1_000));
    assert_eq!(liveness.tick().await, Tick::Dead);
    assert_eq!(start.elapsed(), Duration::from_millis(1_300));
}

#[tokio::test(start_paused = true)]
async fn an_answer_keeps_the_connection_alive() {
    let mut liveness = Liveness::new(KeepaliveConfig { interval_ms: 1_000, timeout_ms: 300 });
    assert_eq!(liveness.tick().await, Tick::Ping);
    liveness.seen();
    assert_eq!(liveness.tick().await, Tick::Ping, "a pong cancels the deadline");
}
