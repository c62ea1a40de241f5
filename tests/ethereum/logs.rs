//! The warnings and errors a test's pipeline logs, captured so that the test can check that
//! bad input was reported, naming the source and the block. The capture holds for the test's
//! thread: `#[tokio::test]` runs the pipeline's tasks there.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// The captured lines, while it lives.
pub(crate) struct Logs {
    text: Arc<Mutex<Vec<u8>>>,
    _guard: DefaultGuard,
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures warnings and errors logged on this thread from now on.
    pub(crate) fn capture() -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&text);
        let subscriber =
            tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_ansi(false).with_writer(move || Sink(Arc::clone(&writer))).finish();
        Self { text, _guard: tracing::subscriber::set_default(subscriber) }
    }

    /// The first line that contains every one of `parts`.
    pub(crate) fn line(&self, parts: &[&str]) -> Option<String> {
        let text = String::from_utf8_lossy(&self.text.lock().expect("the log")).into_owned();
        text.lines().find(|line| parts.iter().all(|part| line.contains(part))).map(str::to_owned)
    }

    /// The first line that contains every one of `parts`; fails with the whole log.
    pub(crate) fn expect(&self, parts: &[&str]) -> String {
        self.line(parts).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&self.text.lock().expect("the log")).into_owned();
            panic!("no log line with {parts:?} in:\n{text}")
        })
    }
}
