//! The order open windows close in: by end, then (tumbling and sliding) the order they opened.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::WindowKind;
use super::keys::KeyId;

/// Open windows by end.
#[derive(Debug)]
pub(super) enum Closing {
    /// Tumbling and sliding windows: every key's window that starts at a given time ends at
    /// `start + size`, so the windows sharing an end wait in one queue, in the order they opened
    /// (4 bytes each). A window leaves only from the front, when it is emitted.
    Fixed { size: i64, by_end: BTreeMap<i64, VecDeque<KeyId>> },
    /// Sessions, whose ends move as they grow and merge: (end, key, start), each removed where
    /// it is. Sessions ending together close in the order of their keys' slots.
    Sessions(BTreeSet<(i64, KeyId, i64)>),
}

impl Closing {
    /// An empty order for windows of `kind` (fixed windows of `size`).
    pub(super) fn new(kind: WindowKind, size: i64) -> Self {
        match kind {
            WindowKind::Tumbling | WindowKind::Sliding => Self::Fixed { size, by_end: BTreeMap::new() },
            WindowKind::Session => Self::Sessions(BTreeSet::new()),
        }
    }

    /// The earliest end of an open window.
    pub(super) fn first_end(&self) -> Option<i64> {
        match self {
            Self::Fixed { by_end, .. } => by_end.first_key_value().map(|(end, _)| *end),
            Self::Sessions(set) => set.first().map(|(end, _, _)| *end),
        }
    }

    /// Adds key `id`'s window from `start` to `end`.
    pub(super) fn push(&mut self, end: i64, id: KeyId, start: i64) {
        match self {
            Self::Fixed { by_end, .. } => by_end.entry(end).or_default().push_back(id),
            Self::Sessions(set) => {
                set.insert((end, id, start));
            }
        }
    }

    /// Removes key `id`'s session from `start` to `end` (a session merged into another).
    pub(super) fn remove_session(&mut self, end: i64, id: KeyId, start: i64) {
        if let Self::Sessions(set) = self {
            set.remove(&(end, id, start));
        }
    }

    /// Takes out the window that closes first: (end, key, start).
    pub(super) fn pop_first(&mut self) -> Option<(i64, KeyId, i64)> {
        match self {
            Self::Fixed { size, by_end } => {
                let mut queue = by_end.first_entry()?;
                let id = queue.get_mut().pop_front();
                let end = *queue.key();
                if queue.get().is_empty() {
                    queue.remove();
                }
                id.map(|id| (end, id, end - *size))
            }
            Self::Sessions(set) => set.pop_first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(closing: &mut Closing) -> Vec<(i64, KeyId, i64)> {
        std::iter::from_fn(|| closing.pop_first()).collect()
    }

    #[test]
    fn fixed_windows_close_by_end_then_in_the_order_they_opened() {
        let mut closing = Closing::new(WindowKind::Sliding, 10);
        for (end, id) in [(20, 5), (10, 7), (20, 1), (10, 2)] {
            closing.push(end, id, end - 10);
        }
        assert_eq!(closing.first_end(), Some(10));
        assert_eq!(drain(&mut closing), [(10, 7, 0), (10, 2, 0), (20, 5, 10), (20, 1, 10)]);
        assert_eq!(closing.first_end(), None);
    }

    #[test]
    fn sessions_close_by_end_and_leave_when_merged() {
        let mut closing = Closing::new(WindowKind::Session, 0);
        for (end, id, start) in [(20, 5, 3), (10, 7, 0), (20, 1, 12), (15, 2, 4)] {
            closing.push(end, id, start);
        }
        closing.remove_session(15, 2, 4);
        assert_eq!(drain(&mut closing), [(10, 7, 0), (20, 1, 12), (20, 5, 3)]);
    }
}
