//! The warnings and errors a test's pipeline logs, captured so that the test can check that
//! bad input was reported, naming the source and the block. The capture holds for the test's
//! thread: `#[tokio::test]` runs the pipeline's tasks there.
//!
//! One subscriber is installed for the whole process, once, and writes each line to the
//! capture of the thread that logged it (if any). Scoped subscribers (`set_default`) would be
//! simpler, but tracing caches each log site's interest across threads, and a site first
//! reached while no scoped subscriber was registered could stay muted for a test that then
//! captures it.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use tokio::sync::Notify;

/// The captured text, and a signal for each line written to it.
#[derive(Default)]
struct Text {
    bytes: Mutex<Vec<u8>>,
    written: Notify,
}

thread_local! {
    /// The capture of this thread, while a [`Logs`] made on it lives.
    static CAPTURE: RefCell<Option<Arc<Text>>> = const { RefCell::new(None) };
}

/// The captured lines, while it lives.
pub(crate) struct Logs {
    text: Arc<Text>,
}

/// Writes to the logging thread's capture; lines of threads without one are dropped.
struct Sink;

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with_borrow(|capture| {
            if let Some(text) = capture {
                text.bytes.lock().expect("the log").extend_from_slice(bytes);
                text.written.notify_waiters();
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures warnings and errors logged on this thread from now on.
    pub(crate) fn capture() -> Self {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_ansi(false).with_writer(|| Sink).finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in the tests");
        });
        let text = Arc::new(Text::default());
        CAPTURE.set(Some(Arc::clone(&text)));
        Self { text }
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

impl Drop for Logs {
    fn drop(&mut self) {
        CAPTURE.set(None);
    }
}
