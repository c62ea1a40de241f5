//! The loop shared by the byte-stream sinks (`stdout`, `file`): encode a batch as NDJSON, write
//! it, flush, and only then acknowledge it as delivered.

use runnel_engine::{AckStatus, BlockError, RunContext, ack_batch};
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
        let mut batch = first;
        if let Err(error) = crate::ndjson::encode(&batch, &mut buf) {
            ack_batch(batch, AckStatus::Failed);
            return Err(BlockError::other(error));
        }
        while buf.len() < WRITE_BYTES {
            let Some(more) = cx.input.next_ready() else { break };
            if let Err(error) = crate::ndjson::encode(&more, &mut buf) {
                ack_batch(batch, AckStatus::Failed);
                ack_batch(more, AckStatus::Failed);
                return Err(BlockError::other(error));
            }
            batch.extend(more);
        }
        let written = async {
            writer.write_all(&buf).await?;
            writer.flush().await?;
            after_flush(writer).await
        }
        .await;
        match written {
            Ok(()) => ack_batch(batch, AckStatus::Delivered),
            Err(error) => {
                cx.metrics.errors.inc_by(batch.len() as u64);
                ack_batch(batch, AckStatus::Failed);
                return Err(error.into());
            }
        }
        timer.observe_duration();
    }
    writer.shutdown().await?;
    Ok(())
}
