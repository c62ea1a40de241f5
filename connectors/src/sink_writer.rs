//! The loop shared by the byte-stream sinks (`stdout`, `file`): encode a batch as NDJSON, write
//! it, flush, and only then acknowledge it as delivered.

use runnel_engine::{AckStatus, Batch, BlockError, RunContext, ack_batch};
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
    // The batches written together, kept apart: merging them would copy every message.
    let mut batches: Vec<Batch> = Vec::new();
    while let Some(first) = cx.input.next().await {
        let timer = cx.metrics.batch_duration.start_timer();
        buf.clear();
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            let encoded = crate::ndjson::encode(&batch, &mut buf);
            batches.push(batch);
            if let Err(error) = encoded {
                ack_all(&mut batches, AckStatus::Failed);
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
            cx.metrics.errors.inc_by(batches.iter().map(Vec::len).sum::<usize>() as u64);
            ack_all(&mut batches, AckStatus::Failed);
            return Err(error.into());
        }
        ack_all(&mut batches, AckStatus::Delivered);
        timer.observe_duration();
    }
    writer.shutdown().await?;
    Ok(())
}

fn ack_all(batches: &mut Vec<Batch>, status: AckStatus) {
    for batch in batches.drain(..) {
        ack_batch(batch, status);
    }
}
