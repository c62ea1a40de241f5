//! The warnings and errors a test's pipeline logs, captured so that the test can check that
//! bad input was reported, naming the source and the block. The capture holds for the test's
//! thread: `#[tokio::test]` runs the pipeline's tasks there.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::subscriber::DefaultGuard;

/// The captured text, and a signal for each line written to it.
#[derive(Default)]
struct Text {
    bytes: Mutex<Vec<u8>>,
    written: Notify,
}

/// The captured lines, while it lives.
pub(crate) struct Logs {
    text: Arc<Text>,
    _guard: DefaultGuard,
}

struct Sink(Arc<Text>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.bytes.lock().expect("the log").extend_from_slice(bytes);
        self.0.written.notify_waiters();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures warnings and errors logged on this thread from now on.
    pub(crate) fn capture() -> Self {
        let text = Arc::new(Text::default());
        let writer = Arc::clone(&text);
        let subscriber =
            tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_ansi(false).with_writer(move || Sink(Arc::clone(&writer))).finish();
        Self { text, _guard: tracing::subscriber::set_default(subscriber) }
    }

    fn all(&self) -> String {
        String::from_utf8_lossy(&self.text.bytes.lock().expect("the log")).into_owned()
    }

    /// The first line that contains every one of `parts`, once it is logged: the pipeline's
    /// tasks may log it after the test saw the output that followed it. Fails with the whole
    /// log if no such line comes within 20 s.
    pub(crate) async fn expect(&self, parts: &[&str]) -> String {
        let found = async {
            loop {
                // Registered before looking, so that a line written in between is not missed.
                let written = self.text.written.notified();
                if let Some(line) = self.all().lines().find(|line| parts.iter().all(|part| line.contains(part))) {
                    return line.to_owned();
                }
                written.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), found).await {
            Ok(line) => line,
            Err(_) => panic!("no log line with {parts:?} in:\n{}", self.all()),
        }
    }
}
