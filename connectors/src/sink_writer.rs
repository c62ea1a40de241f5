//! The loop shared by the byte-stream sinks (`stdout`, `file`): encode batches as NDJSON, write
//! them, and only then acknowledge them as delivered.
//!
//! The bytes are written on a blocking thread, from the buffer they were encoded into (moved
//! there and back, never copied), while the next messages are encoded into a second buffer:
//! one write is in flight at a time, and a batch is acknowledged once its own write is done.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use prometheus::{HistogramTimer, IntCounter};
use runnel_engine::{AckStatus, Acks, BlockError, RunContext};
use tokio::task::JoinHandle;

/// Bytes a sink gathers from batches already queued before it writes: one system call per
/// quarter megabyte at full speed, one per batch when messages trickle in.
const WRITE_BYTES: usize = 256 * 1024;

/// Where a byte-stream sink writes, from a blocking thread.
pub(crate) trait Target: Send + Sync + 'static {
    /// Writes `bytes` whole, and makes them as durable as the sink promises (flushed out of the
    /// process; synced to the disk when asked) before returning.
    ///
    /// # Errors
    /// The error of the write, flush or sync.
    fn write(&self, bytes: &[u8]) -> io::Result<()>;
}

impl Target for io::Stdout {
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut out = self.lock();
        out.write_all(bytes)?;
        out.flush()
    }
}

/// A write on its way, with what waits for it.
struct InFlight {
    write: JoinHandle<(Vec<u8>, io::Result<()>)>,
    acks: Acks,
    messages: usize,
    timer: HistogramTimer,
}

/// Writes every batch of the node's input to `target` until the input ends.
pub(crate) async fn write_all(target: Arc<dyn Target>, cx: &mut RunContext) -> Result<(), BlockError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    // The other buffer, back from the last write.
    let mut spare = Vec::new();
    let mut in_flight: Option<InFlight> = None;
    loop {
        // With a write in flight and nothing queued, finish the write first: its messages are
        // acknowledged now, not when the next ones come.
        let first = match cx.input.next_ready() {
            Some(batch) => batch,
            None => {
                if let Some(write) = in_flight.take() {
                    spare = finish(write, &cx.metrics.errors).await?;
                }
                match cx.input.next().await {
                    Some(batch) => batch,
                    None => break,
                }
            }
        };
        let timer = cx.metrics.batch_duration.start_timer();
        buf.clear();
        // The messages written together: freed as soon as they are encoded, their
        // acknowledgements kept until the bytes are written.
        let mut acks = Acks::none();
        let mut messages = 0;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            messages += batch.len();
            if let Err(error) = crate::ndjson::encode(batch, &mut buf, &mut acks) {
                acks.resolve(AckStatus::Failed);
                if let Some(write) = in_flight.take() {
                    finish(write, &cx.metrics.errors).await?;
                }
                return Err(BlockError::other(error));
            }
            if buf.len() < WRITE_BYTES {
                next = cx.input.next_ready();
            }
        }
        if let Some(write) = in_flight.take() {
            match finish(write, &cx.metrics.errors).await {
                Ok(back) => spare = back,
                Err(error) => {
                    acks.resolve(AckStatus::Failed);
                    return Err(error);
                }
            }
        }
        let bytes = std::mem::replace(&mut buf, std::mem::take(&mut spare));
        let target = Arc::clone(&target);
        let write = tokio::task::spawn_blocking(move || {
            let written = target.write(&bytes);
            (bytes, written)
        });
        in_flight = Some(InFlight { write, acks, messages, timer });
    }
    // The loop ends only where nothing is queued, after the last write was finished.
    Ok(())
}

/// Waits for `write`; acknowledges its messages as delivered and gives its buffer back, or counts
/// them in `errors` and fails them with the error.
async fn finish(write: InFlight, errors: &IntCounter) -> Result<Vec<u8>, BlockError> {
    let InFlight { write, acks, messages, timer } = write;
    let (bytes, written) = write.await.unwrap_or_else(|error| (Vec::new(), Err(io::Error::other(error))));
    match written {
        Ok(()) => {
            acks.resolve_at(AckStatus::Delivered, Instant::now());
            timer.observe_duration();
            Ok(bytes)
        }
        Err(error) => {
            errors.inc_by(messages as u64);
            acks.resolve(AckStatus::Failed);
            Err(error.into())
        }
    }
}
