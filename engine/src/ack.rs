//! End-to-end acknowledgements.
//!
//! A source that wants to know what became of its messages creates an [`AckTracker`] and stamps
//! each message with [`AckTracker::token`]. Every copy of the message (fan-out), and every message
//! derived from it (map, batch, window), holds its own [`AckToken`]. A holder resolves its token
//! when it is done: a sink after delivery, a filter when it drops the message on purpose. When the
//! last token of a source message is gone, the tracker's receiver gets one [`Ack`] with the worst
//! status any holder reported.
//!
//! A token dropped without being resolved (a task aborted at shutdown, a channel closed under it)
//! counts as [`AckStatus::Abandoned`], so a source never mistakes a lost message for a delivered one.
//!
//! Cost: the messages of a source batch share one record ([`AckTracker::tokens_at`]), so a
//! tracked message costs a few atomic operations and, if the source listens, one lock-free queue
//! push; messages of sources that do not track acknowledgements carry no token at all. A source
//! that only needs to know when a whole batch is finished (a file source moving its checkpoint)
//! asks for one [`Ack`] per batch ([`AckTracker::batch_at`]), not one per message.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Instant;

use smallvec::SmallVec;
use tokio::sync::mpsc;

use crate::metrics::AckMetrics;

/// What became of a message, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum AckStatus {
    /// Dropped on purpose (a filter, an `on_error = "drop"` policy, an unread port).
    Dropped = 1,
    /// Delivered by a sink.
    Delivered = 2,
    /// A sink failed to deliver it.
    Failed = 3,
    /// Lost without a decision: its task was stopped or a channel closed under it.
    Abandoned = 4,
}

impl AckStatus {
    /// Whether the source may consider the message done (delivered or dropped on purpose).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Dropped | Self::Delivered)
    }

    fn from_u8(raw: u8) -> Self {
        match raw {
            1 => Self::Dropped,
            2 => Self::Delivered,
            3 => Self::Failed,
            _ => Self::Abandoned,
        }
    }
}

impl fmt::Display for AckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dropped => "dropped",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        })
    }
}

/// The final outcome of one source message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The id the source gave the message in [`AckTracker::token`].
    pub id: u64,
    /// The worst status reported by any holder.
    pub status: AckStatus,
}

/// Receives one [`Ack`] per tracked message. Unbounded, but its length is bounded by the number
/// of messages in flight, which the pipeline's bounded channels bound.
pub type AckReceiver = mpsc::UnboundedReceiver<Ack>;

#[derive(Debug)]
struct TrackerInner {
    tx: Option<mpsc::UnboundedSender<Ack>>,
    metrics: Option<AckMetrics>,
}

/// Creates acknowledgement tokens for one source.
#[derive(Clone, Debug)]
pub struct AckTracker {
    inner: Arc<TrackerInner>,
}

impl AckTracker {
    /// A tracker and the receiver of its acknowledgements. `metrics`, if given, counts the
    /// outcomes and observes the time from [`AckTracker::token`] to the final acknowledgement.
    pub fn channel(metrics: Option<AckMetrics>) -> (Self, AckReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::new(Some(tx), metrics), rx)
    }

    /// A tracker that sends acknowledgements to `tx`, if given, and records `metrics`, if given.
    /// A source that only wants the metrics passes no sender.
    pub fn new(tx: Option<mpsc::UnboundedSender<Ack>>, metrics: Option<AckMetrics>) -> Self {
        Self { inner: Arc::new(TrackerInner { tx, metrics }) }
    }

    /// The acknowledgement set for a new source message with the given id.
    pub fn token(&self, id: u64) -> Acks {
        self.token_at(id, Instant::now())
    }

    /// As [`AckTracker::token`], for a message read at `created`: a source stamping a whole
    /// batch reads the clock once.
    pub fn token_at(&self, id: u64, created: Instant) -> Acks {
        self.tokens_at([id], created).next().unwrap_or_default()
    }

    /// Acknowledgement sets for a batch of new source messages read at `created`, one per id
    /// and in the same order. They share one record: one allocation for the batch instead of
    /// one per message, and resolving a batch's messages in order reads adjacent memory.
    pub fn tokens_at(&self, ids: impl IntoIterator<Item = u64>, created: Instant) -> Tokens {
        let slots = ids.into_iter().map(|id| Slot { id, holders: AtomicU32::new(1), status: AtomicU8::new(0) }).collect();
        let record = Record { tracker: Arc::clone(&self.inner), created, slots, finished: Default::default(), resolved_at: None, batch: None };
        Tokens { record: Arc::new(record), next: 0 }
    }

    /// Acknowledgement sets for `count` source messages read at `created` that the source
    /// tracks together as batch `id`: the receiver gets one [`Ack`] for the batch, with the
    /// worst status of its messages, once every one of them is finished (at once, as
    /// [`AckStatus::Dropped`], if `count` is 0). One queue push per batch instead of one per
    /// message, for a source that only needs to know when a whole batch is done.
    pub fn batch_at(&self, id: u64, count: usize, created: Instant) -> Tokens {
        let slots = (0..count).map(|_| Slot { id, holders: AtomicU32::new(1), status: AtomicU8::new(0) }).collect();
        let batch = Some(BatchAck { id, worst: AtomicU8::new(0) });
        let record = Record { tracker: Arc::clone(&self.inner), created, slots, finished: Default::default(), resolved_at: None, batch };
        Tokens { record: Arc::new(record), next: 0 }
    }
}

/// The acknowledgement sets of a batch of source messages, handed out in the order of their ids
/// ([`AckTracker::tokens_at`]). A set not taken counts as abandoned.
#[derive(Debug)]
pub struct Tokens {
    record: Arc<Record>,
    next: usize,
}

impl Iterator for Tokens {
    type Item = Acks;

    fn next(&mut self) -> Option<Acks> {
        if self.next == self.record.slots.len() {
            return None;
        }
        let slot = self.next as u32;
        self.next += 1;
        Some(Acks::of(AckToken { record: Some(Arc::clone(&self.record)), slot }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.record.slots.len() - self.next;
        (left, Some(left))
    }
}

impl Drop for Tokens {
    fn drop(&mut self) {
        // Sets never handed out were never held: their messages are lost.
        while self.next().is_some() {}
    }
}

/// The acknowledgement state of one batch of source messages.
#[derive(Debug)]
struct Record {
    tracker: Arc<TrackerInner>,
    created: Instant,
    /// Inline for a lone message, so that it costs one allocation.
    slots: SmallVec<[Slot; 1]>,
    /// Messages finished, by status (numbered from 1), added to the metrics when the record ends:
    /// one update of the shared metrics per batch instead of several per message.
    finished: [AtomicU32; 4],
    /// When the last message was resolved, if its holder knew the time.
    resolved_at: Option<Instant>,
    /// For a batch acknowledged as one ([`AckTracker::batch_at`]): its outcome so far, reported
    /// when the record ends.
    batch: Option<BatchAck>,
}

/// The outcome of a batch acknowledged as one.
#[derive(Debug)]
struct BatchAck {
    /// The id the source gave the batch.
    id: u64,
    /// The worst status of its messages so far (0: none yet).
    worst: AtomicU8,
}

/// One source message of a [`Record`].
#[derive(Debug)]
struct Slot {
    id: u64,
    /// Tokens of this message not yet resolved.
    holders: AtomicU32,
    /// The worst status reported so far (0: none yet).
    status: AtomicU8,
}

impl Record {
    /// Reports the final outcome of the message in `slot`.
    fn report(&self, slot: &Slot) {
        let status = AckStatus::from_u8(slot.status.load(Ordering::Acquire));
        if self.tracker.metrics.is_some() {
            self.finished[status as usize - 1].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(batch) = &self.batch {
            batch.worst.fetch_max(status as u8, Ordering::AcqRel);
            return;
        }
        // The source may have stopped listening; then nobody needs the outcome.
        if let Some(tx) = &self.tracker.tx {
            let _ = tx.send(Ack { id: slot.id, status });
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if let (Some(batch), Some(tx)) = (&mut self.batch, &self.tracker.tx) {
            // Every message of the batch has been reported: the record's last holder is gone.
            let status = match *batch.worst.get_mut() {
                0 => AckStatus::Dropped,
                worst => AckStatus::from_u8(worst),
            };
            let _ = tx.send(Ack { id: batch.id, status });
        }
        if let Some(metrics) = &self.tracker.metrics {
            let finished = self.finished.each_mut().map(|n| u64::from(*n.get_mut()));
            let now = self.resolved_at.unwrap_or_else(Instant::now);
            metrics.observe_batch(finished, now.saturating_duration_since(self.created));
        }
    }
}

/// One holder's share of a source message's acknowledgement.
#[derive(Debug)]
pub(crate) struct AckToken {
    /// `None` once resolved.
    record: Option<Arc<Record>>,
    slot: u32,
}

impl AckToken {
    /// Records `status`; the last holder of the message reports its outcome.
    fn settle(&mut self, status: AckStatus, now: Option<Instant>) {
        let Some(mut record) = self.record.take() else { return };
        let slot = &record.slots[self.slot as usize];
        // The only holder (the common case): nobody else can clone or resolve this message's
        // token any more, so plain stores do; otherwise the read-modify-writes order the holders.
        if slot.holders.load(Ordering::Acquire) == 1 {
            slot.status.store(slot.status.load(Ordering::Relaxed).max(status as u8), Ordering::Relaxed);
            slot.holders.store(0, Ordering::Relaxed);
            record.report(slot);
        } else {
            slot.status.fetch_max(status as u8, Ordering::AcqRel);
            if slot.holders.fetch_sub(1, Ordering::AcqRel) == 1 {
                record.report(slot);
            }
        }
        // The record's last holder (checked cheaply first): its batch ends as `record` drops.
        if Arc::strong_count(&record) == 1 {
            if let Some(last) = Arc::get_mut(&mut record) {
                last.resolved_at = now;
            }
        }
    }
}

impl Clone for AckToken {
    fn clone(&self) -> Self {
        if let Some(record) = &self.record {
            record.slots[self.slot as usize].holders.fetch_add(1, Ordering::Relaxed);
        }
        Self { record: self.record.clone(), slot: self.slot }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        self.settle(AckStatus::Abandoned, None);
    }
}

/// The acknowledgement tokens a message carries: none for untracked sources, one for a source
/// message, several for a message merged from many (a batch, a window aggregate).
#[derive(Clone, Debug, Default)]
pub struct Acks {
    tokens: SmallVec<[AckToken; 1]>,
}

impl Acks {
    /// No tokens: nobody waits for this message.
    pub fn none() -> Self {
        Self::default()
    }

    fn of(token: AckToken) -> Self {
        let mut tokens = SmallVec::new();
        tokens.push(token);
        Self { tokens }
    }

    /// Whether no source waits for this message.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many source messages this message answers for.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Adds `other`'s tokens to this set (when merging messages).
    pub fn merge(&mut self, other: Acks) {
        let mut other = other;
        if self.tokens.is_empty() {
            *self = other;
        } else if other.tokens.len() == 1 {
            // The common case, a sink gathering the messages of a batch: one token each.
            self.tokens.extend(other.tokens.pop());
        } else {
            self.tokens.extend(other.tokens.drain(..));
        }
    }

    /// Takes the tokens out, leaving the set empty.
    pub fn take(&mut self) -> Acks {
        std::mem::take(self)
    }

    /// Resolves every token with `status`.
    pub fn resolve(self, status: AckStatus) {
        let mut this = self;
        for mut token in this.tokens.drain(..) {
            token.settle(status, None);
        }
    }

    /// As [`Acks::resolve`], resolved at `now`: a holder resolving many messages at once (a
    /// sink acknowledging a batch) reads the clock once for all of them.
    pub fn resolve_at(self, status: AckStatus, now: Instant) {
        let mut this = self;
        for mut token in this.tokens.drain(..) {
            token.settle(status, Some(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut AckReceiver) -> Vec<Ack> {
        let mut out = Vec::new();
        while let Ok(ack) = rx.try_recv() {
            out.push(ack);
        }
        out
    }

    #[test]
    fn one_ack_after_the_last_copy_resolves() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let a = tracker.token(7);
        let b = a.clone();
        a.resolve(AckStatus::Delivered);
        assert!(drain(&mut rx).is_empty());
        b.resolve(AckStatus::Dropped);
        assert_eq!(drain(&mut rx), vec![Ack { id: 7, status: AckStatus::Delivered }]);
    }

    #[test]
    fn the_worst_status_wins() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let a = tracker.token(1);
        let b = a.clone();
        a.resolve(AckStatus::Failed);
        b.resolve(AckStatus::Delivered);
        assert_eq!(drain(&mut rx)[0].status, AckStatus::Failed);
    }

    #[test]
    fn an_unresolved_drop_is_abandoned() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let a = tracker.token(3);
        let b = a.clone();
        b.resolve(AckStatus::Delivered);
        drop(a);
        assert_eq!(drain(&mut rx), vec![Ack { id: 3, status: AckStatus::Abandoned }]);
    }

    #[test]
    fn merged_sets_ack_every_source_message() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let mut merged = tracker.token(1);
        merged.merge(tracker.token(2));
        assert_eq!(merged.len(), 2);
        merged.resolve(AckStatus::Delivered);
        let ids: Vec<u64> = drain(&mut rx).iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn a_batch_record_acks_each_message_on_its_own() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let mut tokens = tracker.tokens_at([10, 11, 12], Instant::now());
        let (a, b, c) = (tokens.next().expect("three"), tokens.next().expect("three"), tokens.next().expect("three"));
        let fanned_out = b.clone();
        b.resolve(AckStatus::Delivered);
        a.resolve(AckStatus::Dropped);
        assert_eq!(drain(&mut rx), vec![Ack { id: 10, status: AckStatus::Dropped }], "11 still has a holder");
        fanned_out.resolve(AckStatus::Failed);
        drop(c);
        assert_eq!(drain(&mut rx), vec![Ack { id: 11, status: AckStatus::Failed }, Ack { id: 12, status: AckStatus::Abandoned }]);
    }

    #[test]
    fn a_batch_acknowledged_as_one_reports_once_with_its_worst_status() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let mut tokens = tracker.batch_at(42, 3, Instant::now());
        let (a, b, c) = (tokens.next().expect("three"), tokens.next().expect("three"), tokens.next().expect("three"));
        drop(tokens);
        let fanned_out = b.clone();
        a.resolve(AckStatus::Delivered);
        b.resolve(AckStatus::Delivered);
        c.resolve(AckStatus::Dropped);
        assert!(drain(&mut rx).is_empty(), "a copy of the second message is still held");
        fanned_out.resolve(AckStatus::Delivered);
        assert_eq!(drain(&mut rx), vec![Ack { id: 42, status: AckStatus::Delivered }]);

        let mut tokens = tracker.batch_at(43, 2, Instant::now());
        tokens.next().expect("two").resolve(AckStatus::Delivered);
        drop(tokens);
        assert_eq!(drain(&mut rx), vec![Ack { id: 43, status: AckStatus::Abandoned }], "a set never handed out is lost");

        drop(tracker.batch_at(44, 0, Instant::now()));
        assert_eq!(drain(&mut rx), vec![Ack { id: 44, status: AckStatus::Dropped }], "an empty batch is done at once");
    }

    #[test]
    fn sets_never_handed_out_are_abandoned() {
        let (tracker, mut rx) = AckTracker::channel(None);
        let mut tokens = tracker.tokens_at([1, 2], Instant::now());
        tokens.next().expect("two").resolve(AckStatus::Delivered);
        drop(tokens);
        assert_eq!(drain(&mut rx), vec![Ack { id: 1, status: AckStatus::Delivered }, Ack { id: 2, status: AckStatus::Abandoned }]);
    }
}
