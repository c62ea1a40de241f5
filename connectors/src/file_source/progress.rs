//! How far a file is finished downstream: its batches in flight, in the order they were read,
//! and the checkpoint, which only moves past a batch once it and every batch before it are
//! delivered or dropped on purpose. The same rule as the Kafka source's commits
//! (`kafka/offsets.rs`), per file and per batch rather than per partition and per message.
//!
//! A batch that failed or was abandoned downstream stops the file's checkpoint before it for the
//! rest of the run, so a restart reads it again: at least once, never lost.

use std::collections::VecDeque;

use runnel_engine::AckStatus;

use crate::ndjson::Position;

/// One file's batches in flight and its checkpoint.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Batches handed downstream and not yet finished in order: id, where it ends, whether done.
    batches: VecDeque<(u64, Position, bool)>,
    /// Everything before it is finished: where a restart resumes.
    done: Position,
    /// A batch failed: the checkpoint stays where it is until the file starts over.
    stuck: bool,
}

/// A batch failed or was abandoned downstream: the checkpoint stays at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stuck {
    pub(crate) at: Position,
    pub(crate) status: AckStatus,
}

impl Progress {
    /// Nothing in flight; everything before `at` is finished.
    pub(crate) fn new(at: Position) -> Self {
        Self { batches: VecDeque::new(), done: at, stuck: false }
    }

    /// Records batch `id`, which ends at `end`. Ids grow from one batch to the next.
    pub(crate) fn track(&mut self, id: u64, end: Position) {
        if !self.stuck {
            self.batches.push_back((id, end, false));
        }
    }

    /// Records the outcome of batch `id`; says so when a failure stops the checkpoint. Batches
    /// this file no longer tracks (it started over) are ignored.
    pub(crate) fn ack(&mut self, id: u64, status: AckStatus) -> Option<Stuck> {
        let index = self.batches.binary_search_by_key(&id, |batch| batch.0).ok()?;
        if !status.is_done() {
            // Nothing after it may pass it; nothing needs tracking until the file starts over.
            self.stuck = true;
            self.batches.clear();
            return Some(Stuck { at: self.done, status });
        }
        self.batches[index].2 = true;
        while let Some(&(_, end, true)) = self.batches.front() {
            self.done = end;
            self.batches.pop_front();
        }
        None
    }

    /// Where a restart would resume.
    pub(crate) fn checkpoint(&self) -> Position {
        self.done
    }

    /// Batches in flight.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.batches.len()
    }

    /// The file starts over at `at` (it was truncated): what was in flight no longer counts.
    pub(crate) fn restart(&mut self, at: Position) {
        *self = Self::new(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AckStatus::{Abandoned, Delivered, Dropped, Failed};

    fn at(offset: u64) -> Position {
        Position { offset, line: offset / 10 }
    }

    #[test]
    fn the_checkpoint_waits_for_the_earliest_batch_in_flight() {
        let mut progress = Progress::new(at(0));
        for id in 1..=3 {
            progress.track(id, at(id * 100));
        }
        assert_eq!(progress.ack(2, Delivered), None);
        assert_eq!(progress.checkpoint(), at(0), "batch 1 is still in flight");
        progress.ack(1, Dropped);
        assert_eq!(progress.checkpoint(), at(200));
        progress.ack(3, Delivered);
        assert_eq!((progress.checkpoint(), progress.pending()), (at(300), 0));
    }

    #[test]
    fn a_failure_stops_the_checkpoint_before_it_for_the_rest_of_the_run() {
        let mut progress = Progress::new(at(50));
        for id in 1..=3 {
            progress.track(id, at(id * 100));
        }
        progress.ack(1, Delivered);
        assert_eq!(progress.ack(2, Failed), Some(Stuck { at: at(100), status: Failed }));
        progress.ack(3, Delivered);
        progress.track(4, at(400));
        progress.ack(4, Delivered);
        assert_eq!((progress.checkpoint(), progress.pending()), (at(100), 0), "a restart reads batch 2 again");
    }

    #[test]
    fn abandoned_counts_as_failed() {
        let mut progress = Progress::new(at(0));
        progress.track(7, at(70));
        assert_eq!(progress.ack(7, Abandoned).map(|s| s.at), Some(at(0)));
    }

    #[test]
    fn after_a_restart_earlier_batches_no_longer_count() {
        let mut progress = Progress::new(at(0));
        progress.track(1, at(100));
        progress.ack(1, Failed);
        progress.restart(at(0));
        assert_eq!(progress.ack(1, Delivered), None);
        progress.track(2, at(30));
        progress.ack(2, Delivered);
        assert_eq!(progress.checkpoint(), at(30));
    }
}
