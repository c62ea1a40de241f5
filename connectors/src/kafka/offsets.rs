//! Which offsets a Kafka source may commit: per partition, the messages handed downstream in
//! offset order and what became of each, so the commit point never passes a message that is
//! not finished.
//!
//! Every message gets an acknowledgement id made of its partition's slot (the high 16 bits) and
//! a ticket, a number that grows by one per message of that partition for the life of the source.
//! A partition's unfinished messages sit in a queue ordered by ticket, so an acknowledgement finds
//! its entry by subtraction. Tickets are never reused, not even after a partition is revoked and
//! assigned again, so a late acknowledgement of an earlier assignment is recognised and ignored.
//!
//! A message that failed (or was abandoned) downstream freezes the commit point before it and
//! *supersedes* itself and every later message of the partition: the source re-reads the
//! partition from that offset ([`Rewind`]), and the superseded entries no longer count.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use runnel_engine::AckStatus;

/// Bits of an acknowledgement id that hold the ticket; the slot takes the rest.
const TICKET_BITS: u32 = 48;
const TICKET_MASK: u64 = (1 << TICKET_BITS) - 1;
/// Distinct partitions one source can track over its life.
pub(crate) const MAX_SLOTS: usize = 1 << (64 - TICKET_BITS);

/// More distinct partitions than acknowledgement ids can tell apart.
#[derive(Debug, thiserror::Error)]
#[error("a Kafka source can track at most {MAX_SLOTS} distinct partitions")]
pub(crate) struct TooManyPartitions;

/// A partition to re-read from `offset` because the message there failed downstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rewind {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// An offset that is safe to commit: every message before it is finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    /// The next offset to read, as Kafka commits it.
    pub(crate) offset: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Done,
    /// Failed, or after a failed message: will be read again; its outcome no longer matters.
    Superseded,
}

#[derive(Debug)]
struct Entry {
    offset: i64,
    state: State,
}

/// One partition's messages in flight and its commit point.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    /// Ticket of `entries[0]`.
    base: u64,
    entries: VecDeque<Entry>,
    pending: usize,
    /// The offset after the last message finished in order: what may be committed.
    committable: Option<i64>,
    /// What was last handed to the consumer to commit.
    stored: Option<i64>,
    rewind: Option<i64>,
    /// Whether the consumer group gave this partition to the source.
    assigned: bool,
}

impl Partition {
    fn new(topic: Arc<str>, partition: i32) -> Self {
        Self { topic, partition, base: 0, entries: VecDeque::new(), pending: 0, committable: None, stored: None, rewind: None, assigned: false }
    }

    /// Forgets everything in flight (revoked, or assigned anew): their acknowledgements will be
    /// ignored, and tickets continue from where they were.
    fn reset(&mut self) {
        self.base += self.entries.len() as u64;
        self.entries.clear();
        self.pending = 0;
        self.committable = None;
        self.stored = None;
        self.rewind = None;
    }

    fn track(&mut self, offset: i64) -> u64 {
        let ticket = self.base + self.entries.len() as u64;
        self.entries.push_back(Entry { offset, state: State::Pending });
        self.pending += 1;
        ticket
    }

    /// Records an outcome; returns the offset to re-read from when this one failed.
    fn ack(&mut self, ticket: u64, status: AckStatus) -> Option<i64> {
        let index = usize::try_from(ticket.checked_sub(self.base)?).ok()?;
        let entry = self.entries.get_mut(index)?;
        if entry.state != State::Pending {
            return None;
        }
        if status.is_done() {
            entry.state = State::Done;
            self.pending -= 1;
            self.advance();
            return None;
        }
        let offset = entry.offset;
        for later in self.entries.range_mut(index..) {
            if later.state == State::Pending {
                self.pending -= 1;
            }
            later.state = State::Superseded;
        }
        self.advance();
        self.rewind = Some(self.rewind.map_or(offset, |r| r.min(offset)));
        Some(offset)
    }

    /// Pops finished entries off the front. Only finished ones move the commit point:
    /// superseded ones will be read again.
    fn advance(&mut self) {
        while let Some(front) = self.entries.front() {
            match front.state {
                State::Pending => break,
                State::Done => self.committable = Some(front.offset + 1),
                State::Superseded => {}
            }
            self.entries.pop_front();
            self.base += 1;
        }
    }

    /// Whether the source owns the partition now.
    pub(crate) fn is_assigned(&self) -> bool {
        self.assigned
    }

    /// Messages handed downstream and not finished (superseded ones excluded).
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// The commit point if it moved since the last call.
    fn take_commit(&mut self) -> Option<Commit> {
        let offset = self.committable.filter(|c| Some(*c) != self.stored)?;
        self.stored = Some(offset);
        Some(Commit { topic: self.topic.clone(), partition: self.partition, offset })
    }
}

/// Every partition a source has seen, by slot.
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    partitions: Vec<Partition>,
    slots: HashMap<Arc<str>, HashMap<i32, usize>>,
}

impl Offsets {
    /// The slot of a partition, created on first sight.
    ///
    /// # Errors
    /// [`TooManyPartitions`] past [`MAX_SLOTS`] distinct partitions.
    pub(crate) fn slot(&mut self, topic: &str, partition: i32) -> Result<usize, TooManyPartitions> {
        if let Some(slot) = self.slots.get(topic).and_then(|p| p.get(&partition)) {
            return Ok(*slot);
        }
        let slot = self.partitions.len();
        if slot >= MAX_SLOTS {
            return Err(TooManyPartitions);
        }
        let topic: Arc<str> = Arc::from(topic);
        self.partitions.push(Partition::new(topic.clone(), partition));
        self.slots.entry(topic).or_default().insert(partition, slot);
        Ok(slot)
    }

    /// The slot of a partition seen before.
    pub(crate) fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.slots.get(topic)?.get(&partition).copied()
    }

    /// The partition in `slot`.
    pub(crate) fn partition(&self, slot: usize) -> &Partition {
        &self.partitions[slot]
    }

    /// The group gave the source this partition: its tracking starts afresh.
    pub(crate) fn assign(&mut self, slot: usize) {
        self.partitions[slot].reset();
        self.partitions[slot].assigned = true;
    }

    /// The group took the partition away: whatever is still in flight no longer counts.
    pub(crate) fn revoke(&mut self, slot: usize) {
        self.partitions[slot].reset();
        self.partitions[slot].assigned = false;
    }

    /// Records a message at `offset` handed downstream; returns its acknowledgement id.
    pub(crate) fn track(&mut self, slot: usize, offset: i64) -> u64 {
        ((slot as u64) << TICKET_BITS) | self.partitions[slot].track(offset)
    }

    /// Records the outcome of message `id`; a failure asks for a [`Rewind`]. Outcomes of
    /// messages from an earlier assignment, or already superseded, are ignored.
    pub(crate) fn ack(&mut self, id: u64, status: AckStatus) -> Option<Rewind> {
        let slot = usize::try_from(id >> TICKET_BITS).ok()?;
        let partition = self.partitions.get_mut(slot)?;
        let offset = partition.ack(id & TICKET_MASK, status)?;
        Some(Rewind { topic: partition.topic.clone(), partition: partition.partition, offset })
    }

    /// The partitions whose rewind is due, taken once each.
    pub(crate) fn take_rewinds(&mut self) -> Vec<Rewind> {
        self.partitions
            .iter_mut()
            .filter_map(|p| p.rewind.take().map(|offset| Rewind { topic: p.topic.clone(), partition: p.partition, offset }))
            .collect()
    }

    /// Commit points that moved since the last call, for the partitions in `slots` (all if `None`).
    pub(crate) fn take_commits(&mut self, slots: Option<&[usize]>) -> Vec<Commit> {
        match slots {
            None => self.partitions.iter_mut().filter_map(Partition::take_commit).collect(),
            Some(slots) => slots.iter().filter_map(|s| self.partitions.get_mut(*s)?.take_commit()).collect(),
        }
    }

    /// Unfinished messages in the partitions in `slots`.
    pub(crate) fn pending_in(&self, slots: &[usize]) -> usize {
        slots.iter().filter_map(|s| self.partitions.get(*s)).map(Partition::pending).sum()
    }

    /// Unfinished messages in every partition.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.partitions.iter().map(Partition::pending).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AckStatus::{Abandoned, Delivered, Dropped, Failed};

    fn one_partition() -> (Offsets, usize) {
        let mut offsets = Offsets::default();
        let slot = offsets.slot("t", 0).expect("slot");
        (offsets, slot)
    }

    fn commits(offsets: &mut Offsets) -> Vec<i64> {
        offsets.take_commits(None).into_iter().map(|c| c.offset).collect()
    }

    #[test]
    fn the_commit_point_waits_for_the_lowest_unfinished_offset() {
        let (mut offsets, slot) = one_partition();
        let ids: Vec<u64> = (10..15).map(|o| offsets.track(slot, o)).collect();
        offsets.ack(ids[1], Delivered);
        offsets.ack(ids[2], Dropped);
        assert_eq!(commits(&mut offsets), Vec::<i64>::new(), "offset 10 is still in flight");
        offsets.ack(ids[0], Delivered);
        assert_eq!(commits(&mut offsets), vec![13]);
        assert_eq!(commits(&mut offsets), Vec::<i64>::new(), "reported once");
        offsets.ack(ids[4], Delivered);
        offsets.ack(ids[3], Delivered);
        assert_eq!(commits(&mut offsets), vec![15]);
        assert_eq!(offsets.pending(), 0);
    }

    #[test]
    fn a_failure_freezes_the_commit_point_and_asks_to_reread() {
        let (mut offsets, slot) = one_partition();
        let ids: Vec<u64> = (0..4).map(|o| offsets.track(slot, o)).collect();
        offsets.ack(ids[0], Delivered);
        let rewind = offsets.ack(ids[2], Failed).expect("a rewind");
        assert_eq!(rewind.offset, 2);
        offsets.ack(ids[3], Delivered);
        offsets.ack(ids[1], Delivered);
        assert_eq!(commits(&mut offsets), vec![2], "nothing past the failed message");
        assert_eq!(offsets.pending(), 0, "superseded messages are not waited for");
        assert_eq!(offsets.take_rewinds().len(), 1);
        // The partition is read again from offset 2.
        let again: Vec<u64> = (2..4).map(|o| offsets.track(slot, o)).collect();
        offsets.ack(again[0], Delivered);
        offsets.ack(again[1], Delivered);
        assert_eq!(commits(&mut offsets), vec![4]);
    }

    #[test]
    fn abandoned_counts_as_failed() {
        let (mut offsets, slot) = one_partition();
        let id = offsets.track(slot, 7);
        assert_eq!(offsets.ack(id, Abandoned).map(|r| r.offset), Some(7));
        assert!(commits(&mut offsets).is_empty());
    }

    #[test]
    fn acknowledgements_from_an_earlier_assignment_are_ignored() {
        let (mut offsets, slot) = one_partition();
        let old = offsets.track(slot, 5);
        offsets.revoke(slot);
        offsets.assign(slot);
        let new = offsets.track(slot, 5);
        assert_ne!(old, new);
        assert_eq!(offsets.ack(old, Failed), None);
        assert!(commits(&mut offsets).is_empty());
        offsets.ack(new, Delivered);
        assert_eq!(commits(&mut offsets), vec![6]);
    }

    #[test]
    fn partitions_are_tracked_apart() {
        let mut offsets = Offsets::default();
        let a = offsets.slot("t", 0).expect("slot");
        let b = offsets.slot("t", 1).expect("slot");
        assert_eq!(offsets.slot("t", 0).expect("slot"), a);
        let in_a = offsets.track(a, 100);
        let in_b = offsets.track(b, 3);
        offsets.ack(in_b, Delivered);
        assert_eq!(offsets.pending_in(&[a]), 1);
        assert_eq!(offsets.pending_in(&[b]), 0);
        let done = offsets.take_commits(Some(&[b]));
        assert_eq!(done, vec![Commit { topic: "t".into(), partition: 1, offset: 4 }]);
        offsets.ack(in_a, Delivered);
        assert_eq!(commits(&mut offsets), vec![101]);
    }
}
