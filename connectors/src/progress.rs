//! How far a source may move its checkpoint: its batches in flight in read order, each with the
//! position it reaches, and the last position before which every batch is finished. A failed
//! or abandoned batch stalls the checkpoint for the rest of the run, so that a restart reads it
//! again (at least once): the rule of the Kafka source's commits (`kafka/offsets.rs`), per batch
//! rather than per message. The file source (per file), the `kinesis` source (per shard), the
//! `ethereum` and `bigchaindb` sources (per chain) and sources like them that stamp each batch with
//! [`runnel_engine::AckTracker::batch_at`] feed it the batch acknowledgements they receive.

use std::collections::VecDeque;

use runnel_engine::AckStatus;

/// One batch in flight.
#[derive(Debug)]
struct Pending<P> {
    id: u64,
    position: P,
    status: Option<AckStatus>,
}

/// What an acknowledgement changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    /// The checkpoint moved.
    Yes,
    /// Nothing to save: the batch is not the first unfinished one, or it was unknown.
    No,
    /// A batch failed or was abandoned (with this status): the checkpoint stays where it is from
    /// now on (it may have moved up to the batch before it first).
    Stalled(AckStatus),
}

/// The batches of one stream (a file, a shard, a chain) in flight, in read order.
#[derive(Debug)]
pub(crate) struct Progress<P> {
    pending: VecDeque<Pending<P>>,
    finished: Option<P>,
    stalled: bool,
}

impl<P> Progress<P> {
    /// Nothing in flight, and the checkpoint at `finished` (from a state file, or `None`).
    pub(crate) fn new(finished: Option<P>) -> Self {
        Self { pending: VecDeque::new(), finished, stalled: false }
    }

    /// Batch `id` was sent; once it and every batch before it are finished, the checkpoint is
    /// `position`. Ids must increase.
    pub(crate) fn sent(&mut self, id: u64, position: P) {
        debug_assert!(self.pending.back().is_none_or(|last| last.id < id), "ids increase");
        self.pending.push_back(Pending { id, position, status: None });
    }

    /// Batch `id` is finished with `status`.
    pub(crate) fn acked(&mut self, id: u64, status: AckStatus) -> Moved {
        let Ok(at) = self.pending.binary_search_by_key(&id, |pending| pending.id) else { return Moved::No };
        self.pending[at].status = Some(status);
        let mut moved = Moved::No;
        while let Some(done) = self.pending.front().and_then(|pending| pending.status) {
            let Some(Pending { position, .. }) = self.pending.pop_front() else { break };
            if matches!(done, AckStatus::Failed | AckStatus::Abandoned) && !self.stalled {
                self.stalled = true;
                moved = Moved::Stalled(done);
            }
            if !self.stalled {
                self.finished = Some(position);
                moved = Moved::Yes;
            }
        }
        moved
    }

    /// The checkpoint: the position of the last batch before which everything is finished.
    pub(crate) fn finished(&self) -> Option<&P> {
        self.finished.as_ref()
    }

    /// Whether no batch is in flight.
    #[cfg(any(feature = "kinesis", feature = "bigchaindb", feature = "ethereum", test))]
    pub(crate) fn is_drained(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a batch failed, so the checkpoint no longer moves.
    #[cfg(any(feature = "kinesis", test))]
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_follows_the_longest_finished_run_from_the_front() {
        let mut progress = Progress::new(Some("start"));
        progress.sent(1, "a");
        progress.sent(2, "b");
        progress.sent(5, "c");
        assert_eq!(progress.acked(2, AckStatus::Delivered), Moved::No);
        assert_eq!(progress.finished(), Some(&"start"));
        assert_eq!(progress.acked(1, AckStatus::Dropped), Moved::Yes);
        assert_eq!(progress.finished(), Some(&"b"));
        assert!(!progress.is_drained());
        assert_eq!(progress.acked(7, AckStatus::Delivered), Moved::No, "an unknown batch");
        assert_eq!(progress.acked(5, AckStatus::Delivered), Moved::Yes);
        assert_eq!(progress.finished(), Some(&"c"));
        assert!(progress.is_drained());
    }

    #[test]
    fn a_failed_batch_stalls_the_checkpoint_before_it_for_good() {
        let mut progress = Progress::new(None);
        progress.sent(1, 10);
        progress.sent(2, 20);
        progress.sent(3, 30);
        assert_eq!(progress.acked(1, AckStatus::Delivered), Moved::Yes);
        assert_eq!(progress.acked(2, AckStatus::Abandoned), Moved::Stalled(AckStatus::Abandoned));
        assert_eq!(progress.acked(3, AckStatus::Delivered), Moved::No);
        assert_eq!(progress.finished(), Some(&10));
        assert!(progress.is_stalled() && progress.is_drained());
    }
}
