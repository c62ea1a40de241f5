//! The open windows of a window block ("panes"): one per key and start, with the order they
//! close in.

use indexmap::IndexMap;
use runnel_engine::Acks;
use serde_json::Value;
use smallvec::SmallVec;

use super::WindowKind;
use super::aggregate::{Accumulator, AggregateConfig};
use super::closing::Closing;
use super::keys::{KeyId, KeyText, Keys, TooManyKeys};

/// The block's aggregates, by output name.
pub(super) type Aggregates = IndexMap<String, AggregateConfig>;

/// One open window of one key.
#[derive(Debug)]
pub(super) struct Pane {
    pub(super) start: i64,
    /// For a session, its latest event plus the gap.
    pub(super) end: i64,
    /// One per aggregate, in the block's order; inline for a single aggregate.
    accumulators: SmallVec<[Accumulator; 1]>,
    acks: Acks,
}

impl Pane {
    fn new(start: i64, end: i64, aggregates: &Aggregates) -> Self {
        Self { start, end, accumulators: aggregates.values().map(|a| Accumulator::new(a.op)).collect(), acks: Acks::none() }
    }

    /// Adds one message: its aggregate inputs, in the block's order, and its acknowledgements.
    pub(super) fn add(&mut self, values: &[Value], acks: Acks) {
        for (accumulator, value) in self.accumulators.iter_mut().zip(values) {
            accumulator.add(value);
        }
        self.acks.merge(acks);
    }

    /// Takes in `other`'s span, messages and acknowledgements (sessions that touch).
    fn absorb(&mut self, other: Pane) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.acks.merge(other.acks);
        for (into, from) in self.accumulators.iter_mut().zip(other.accumulators) {
            into.merge(from);
        }
    }

    /// The aggregate results, in the block's order, and the acknowledgements.
    pub(super) fn finish(self) -> (impl Iterator<Item = Value>, Acks) {
        (self.accumulators.into_iter().map(Accumulator::finish), self.acks)
    }
}

/// A window taken out to be emitted.
#[derive(Debug)]
pub(super) struct Closed {
    pub(super) key: KeyText,
    pub(super) pane: Pane,
}

/// Every open pane, by key then start, and the order they close in.
#[derive(Debug)]
pub(super) struct Panes {
    keys: Keys,
    closing: Closing,
    open: usize,
}

impl Panes {
    /// No panes, for windows of `kind` (fixed windows of `size`).
    pub(super) fn new(kind: WindowKind, size: i64) -> Self {
        Self { keys: Keys::default(), closing: Closing::new(kind, size), open: 0 }
    }

    /// The key whose text is `text` (`key` as it arrived), held from now until its last pane closes.
    pub(super) fn key(&mut self, text: &str, key: &Value) -> Result<KeyId, TooManyKeys> {
        self.keys.intern(text, key)
    }

    /// How many panes are open.
    pub(super) fn open(&self) -> usize {
        self.open
    }

    /// The earliest end of an open pane.
    pub(super) fn first_end(&self) -> Option<i64> {
        self.closing.first_end()
    }

    /// Key `id`'s pane from `start` to `end`, opened if it is new.
    pub(super) fn fixed(&mut self, id: KeyId, start: i64, end: i64, aggregates: &Aggregates) -> &mut Pane {
        let slot = self.keys.get_mut(id);
        let at = match slot.find(start) {
            Ok(at) => at,
            Err(at) => {
                slot.panes.insert(at, Pane::new(start, end, aggregates));
                self.closing.push(end, id, start);
                self.open += 1;
                at
            }
        };
        &mut slot.panes[at]
    }

    /// Puts a message at `t` into key `id`'s session, merging the sessions it falls into or
    /// touches (those starting at most `gap` after it and ending at or after it) unless they
    /// ended at or before `watermark` (those are closed, only not emitted yet).
    pub(super) fn add_to_session(
        &mut self,
        id: KeyId,
        (t, watermark): (i64, Option<i64>),
        gap: i64,
        aggregates: &Aggregates,
        values: &[Value],
        acks: Acks,
    ) {
        let slot = self.keys.get_mut(id);
        let mut merged = Pane::new(t, t + gap, aggregates);
        let mut at = 0;
        // Oldest first, so that `collect` keeps arrival order across merged sessions.
        while let Some(pane) = slot.panes.get(at) {
            let closed = watermark.is_some_and(|w| pane.end <= w);
            if pane.start - gap <= t && t <= pane.end && !closed {
                let pane = slot.panes.remove(at);
                self.closing.remove_session(pane.end, id, pane.start);
                self.open -= 1;
                merged.absorb(pane);
            } else {
                at += 1;
            }
        }
        merged.add(values, acks);
        self.closing.push(merged.end, id, merged.start);
        self.open += 1;
        let at = slot.find(merged.start).unwrap_or_else(|at| at);
        slot.panes.insert(at, merged);
    }

    /// Takes out the pane that closes first, with its key; the key is let go with its last pane.
    pub(super) fn pop_first(&mut self) -> Option<Closed> {
        let (_, id, start) = self.closing.pop_first()?;
        let slot = self.keys.get_mut(id);
        let pane = slot.take(start)?;
        self.open -= 1;
        let key = if slot.panes.is_empty() { self.keys.release(id) } else { self.keys.text(id) };
        Some(Closed { key, pane })
    }
}
