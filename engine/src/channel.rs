//! Edges: bounded channels of batches, with a queue-depth gauge, and a node's merged [`Input`].

use std::num::NonZeroUsize;

use futures::stream::{BoxStream, SelectAll, StreamExt};
use prometheus::IntGauge;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::ack::AckStatus;
use crate::message::Batch;
use crate::metrics::NodeMetrics;

/// Batches an edge holds before its sender waits.
///
/// With [`DEFAULT_BATCH_SIZE`] messages per batch, an edge holds at most 8 × 128 = 1,024
/// messages; a pipeline's memory is bounded by (edges × capacity × batch size × message size),
/// e.g. about 2 MiB per edge for 2 KiB messages. Eight batches keep both ends busy (one being
/// filled, one being drained, the rest absorbing jitter) without hiding backpressure for long.
pub const DEFAULT_EDGE_CAPACITY: NonZeroUsize = match NonZeroUsize::new(8) {
    Some(n) => n,
    None => unreachable!(),
};

/// Messages a source puts in one batch, at most. Large enough to amortise a channel send and
/// a metrics update over many messages, small enough that a batch of 2 KiB messages stays
/// well under a megabyte.
pub const DEFAULT_BATCH_SIZE: NonZeroUsize = match NonZeroUsize::new(128) {
    Some(n) => n,
    None => unreachable!(),
};

/// Messages a batch may hold, at most (the largest `batch_size`). Sources reserve room for a
/// whole batch before it fills (32 bytes a message), so a huge `batch_size` would allocate, or
/// fail to allocate, before the first message arrives.
pub const MAX_BATCH_SIZE: usize = 65_536;

/// Messages an edge may hold, at most (`capacity` × `batch_size`): about 1 GiB of 1 KiB messages
/// on one edge, where the defaults hold 1,024. It also keeps `capacity` far below tokio's
/// semaphore limit, above which creating the channel panics.
pub const MAX_EDGE_MESSAGES: usize = 1 << 20;

const _: () = assert!(MAX_EDGE_MESSAGES <= tokio::sync::Semaphore::MAX_PERMITS);

/// What is wrong with an edge of `capacity` batches of `batch_size` messages, if anything.
pub(crate) fn edge_size_problem(capacity: NonZeroUsize, batch_size: NonZeroUsize) -> Option<String> {
    let fits = capacity.get().checked_mul(batch_size.get()).is_some_and(|messages| messages <= MAX_EDGE_MESSAGES);
    (!fits).then(|| {
        format!(
            "`capacity` = {capacity} batches of `batch_size` = {batch_size} messages would let an edge hold more than the \
             {MAX_EDGE_MESSAGES} messages it may: lower `capacity` to {} or less",
            (MAX_EDGE_MESSAGES / batch_size.get()).max(1)
        )
    })
}

/// What a sender does when the edge is full.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: backpressure travels upstream to the sources. The default.
    #[default]
    Block,
    /// Drop the batch, count it as dropped and acknowledge it as such. For lossy telemetry only.
    DropNewest,
}

/// The sending half of an edge.
#[derive(Debug)]
pub(crate) struct EdgeSender {
    tx: mpsc::Sender<Batch>,
    queued: IntGauge,
    when_full: WhenFull,
}

/// The receiving half of an edge.
#[derive(Debug)]
pub(crate) struct EdgeReceiver {
    rx: mpsc::Receiver<Batch>,
    queued: IntGauge,
}

/// A bounded edge of `capacity` batches whose queued messages `queued` tracks.
pub(crate) fn edge(capacity: NonZeroUsize, when_full: WhenFull, queued: IntGauge) -> (EdgeSender, EdgeReceiver) {
    let (tx, rx) = mpsc::channel(capacity.get());
    (EdgeSender { tx, queued: queued.clone(), when_full }, EdgeReceiver { rx, queued })
}

/// The downstream node is gone; the batch that could not be sent is returned.
#[derive(Debug, thiserror::Error)]
#[error("the downstream node stopped")]
pub struct Closed(pub Batch);

/// Outcome of sending on an edge.
pub(crate) enum Sent {
    /// The batch is in the channel.
    Queued,
    /// The edge was full and drops batches when full: the batch is returned to the caller.
    DroppedFull(Batch),
}

impl EdgeSender {
    pub(crate) async fn send(&self, batch: Batch) -> Result<Sent, Closed> {
        let len = batch.len() as i64;
        match self.when_full {
            WhenFull::Block => {
                self.queued.add(len);
                self.tx.send(batch).await.map_err(|e| {
                    self.queued.sub(len);
                    Closed(e.0)
                })?;
                Ok(Sent::Queued)
            }
            WhenFull::DropNewest => match self.tx.try_send(batch) {
                Ok(()) => {
                    self.queued.add(len);
                    Ok(Sent::Queued)
                }
                Err(mpsc::error::TrySendError::Full(batch)) => Ok(Sent::DroppedFull(batch)),
                Err(mpsc::error::TrySendError::Closed(batch)) => Err(Closed(batch)),
            },
        }
    }
}

impl EdgeReceiver {
    fn into_stream(self) -> BoxStream<'static, Batch> {
        let queued = self.queued;
        ReceiverStream::new(self.rx)
            .map(move |batch| {
                queued.sub(batch.len() as i64);
                batch
            })
            .boxed()
    }
}

/// All input edges of a node, merged. Ends when every upstream node has finished.
pub struct Input {
    streams: SelectAll<BoxStream<'static, Batch>>,
    metrics: NodeMetrics,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("edges", &self.streams.len()).finish()
    }
}

impl Input {
    pub(crate) fn new(edges: Vec<EdgeReceiver>, metrics: NodeMetrics) -> Self {
        let streams = edges.into_iter().map(EdgeReceiver::into_stream).collect();
        Self { streams, metrics }
    }

    /// The next batch from any upstream node, or `None` once all of them have finished.
    /// Counts the batch in the node's received metrics.
    pub async fn next(&mut self) -> Option<Batch> {
        if self.streams.is_empty() {
            return None;
        }
        let batch = self.streams.next().await?;
        self.metrics.received_messages.inc_by(batch.len() as u64);
        let bytes: usize = batch.iter().map(|m| m.size_hint()).sum();
        self.metrics.received_bytes.inc_by(bytes as u64);
        Some(batch)
    }

    /// A batch that is already waiting, without waiting for one: lets a sink gather what is
    /// queued into one write. `None` when nothing is ready (or the input has ended).
    pub fn next_ready(&mut self) -> Option<Batch> {
        use futures::FutureExt;
        self.next().now_or_never().flatten()
    }

    /// Whether this node has no input edges (a source).
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// Resolves every message of `batch` with `status`.
pub fn ack_batch(batch: Batch, status: AckStatus) {
    let now = std::time::Instant::now();
    for message in batch {
        message.acks.resolve_at(status, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::metrics::PipelineMetrics;
    use serde_json::json;

    #[tokio::test]
    async fn a_full_edge_blocks_the_sender_until_drained() {
        let metrics = PipelineMetrics::new();
        let gauge = metrics.edge("a", "out", "b", 1);
        let (tx, rx) = edge(NonZeroUsize::MIN, WhenFull::Block, gauge.clone());
        assert!(tx.send(vec![Message::new(json!(1))]).await.is_ok());
        assert_eq!(gauge.get(), 1);
        let second = tx.send(vec![Message::new(json!(2))]);
        tokio::pin!(second);
        assert!(futures::poll!(second.as_mut()).is_pending());
        let mut input = Input::new(vec![rx], metrics.node("b"));
        assert_eq!(input.next().await.map(|b| b.len()), Some(1));
        assert!(second.await.is_ok());
        assert_eq!(gauge.get(), 1);
    }

    #[tokio::test]
    async fn drop_newest_returns_the_batch_when_full() {
        let metrics = PipelineMetrics::new();
        let (tx, _rx) = edge(NonZeroUsize::MIN, WhenFull::DropNewest, metrics.edge("a", "out", "b", 1));
        assert!(matches!(tx.send(vec![Message::new(json!(1))]).await, Ok(Sent::Queued)));
        assert!(matches!(tx.send(vec![Message::new(json!(2))]).await, Ok(Sent::DroppedFull(b)) if b.len() == 1));
    }
}
