//! The listener's pure parts: the refusal, the idle clock and the pauses after failed accepts.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::progress::Progress;
use super::{AcceptFailures, REFUSAL};
use crate::PipelineMetrics;

#[test]
fn the_refusal_is_a_complete_http_response() {
    let text = std::str::from_utf8(REFUSAL).expect("ASCII");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    let length = head.lines().find_map(|l| l.strip_prefix("content-length: ")).expect("a length");
    assert_eq!(length.parse::<usize>(), Ok(body.len()));
}

#[tokio::test(start_paused = true)]
async fn a_connection_stalls_after_the_idle_timeout_without_progress() {
    let progress = Arc::new(Progress::new());
    let limit = Duration::from_secs(30);
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    progress.stamp();
    progress.stalled(limit).await;
    assert_eq!(start.elapsed(), Duration::from_secs(50), "30 s after the last byte moved");
    progress.finish();
    tokio::time::sleep(Duration::from_secs(5)).await;
    progress.stamp();
    progress.stalled(limit).await;
    assert_eq!(start.elapsed(), Duration::from_secs(55), "a finished connection is no longer stamped");
}

#[test]
fn failed_accepts_are_counted_and_paused_after_longer_each_time() {
    let metrics = PipelineMetrics::new();
    let listener = metrics.listener("test");
    let mut failures = AcceptFailures::default();
    let emfile = io::Error::from_raw_os_error(24);
    let pauses: Vec<_> = (0..9).map(|_| failures.record("test", &listener, &emfile).expect("a pause")).collect();
    assert_eq!(pauses[..3], [Duration::from_millis(10), Duration::from_millis(20), Duration::from_millis(40)]);
    assert_eq!(pauses[8], Duration::from_secs(1), "at most a second");
    failures.succeeded();
    assert_eq!(failures.record("test", &listener, &emfile), Some(Duration::from_millis(10)), "an accept resets the pause");
    let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
    assert_eq!(failures.record("test", &listener, &aborted), None, "a client that left is not the listener's failure");
    assert_eq!(listener.accept_errors.get(), 10);
}
