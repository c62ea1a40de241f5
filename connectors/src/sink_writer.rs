//! The loop shared by the byte-stream sinks (`stdout`, `file`): encode a batch as NDJSON, write
//! it, flush, and only then acknowledge it as delivered.

use runnel_engine::{AckStatus, Acks, BlockError, RunContext};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Bytes a sink gathers from batches already queued before it writes and flushes: one system
/// call per quarter megabyte at full speed, one per batch when messages trickle in.
const WRITE_BYTES: usize = 256 * 1024;

/// Writes every batch of the node's input to `writer` until the input ends.
pub(crate) async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut W,
    cx: &mut RunContext,
    mut after_flush: impl AsyncFnMut(&mut W) -> std::io::Result<()>,
) -> Result<(), BlockError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(first) = cx.input.next().await {
        let timer = cx.metrics.batch_duration.start_timer();
        buf.clear();
        // The messages written together: freed as soon as they are encoded, their
        // acknowledgements kept until the bytes are flushed.
        let mut acks = Acks::none();
        let mut messages = 0;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            messages += batch.len();
            if let Err(error) = crate::ndjson::encode(batch, &mut buf, &mut acks) {
                acks.resolve(AckStatus::Failed);
                return Err(BlockError::other(error));
            }
            if buf.len() < WRITE_BYTES {
                next = cx.input.next_ready();
            }
        }
        let written = async {
            writer.write_all(&buf).await?;
            writer.flush().await?;
            after_flush(writer).await
        }
        .await;
        if let Err(error) = written {
            cx.metrics.errors.inc_by(messages as u64);
            acks.resolve(AckStatus::Failed);
            return Err(error.into());
        }
        acks.resolve_at(AckStatus::Delivered, std::time::Instant::now());
        timer.observe_duration();
    }
    writer.shutdown().await?;
    Ok(())
}
