//! The keys a `dedupe` block remembers: each held once, oldest first, found by hash.
//!
//! A map from key to time beside a queue of keys would hold every key twice. Here the queue
//! holds the keys, numbered in the order they came, and the hash index holds only their numbers
//! (8 bytes, where a map keyed by the text holds a whole entry per spare bucket).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Remembered keys, with when each was first seen, oldest first.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// (first seen at, key), oldest first.
    order: VecDeque<(i64, Box<str>)>,
    /// How many keys were forgotten: the key at `order[i]` is number `forgotten + i`.
    forgotten: u64,
    /// The numbers of the remembered keys, by the hash of the key.
    index: HashTable<u64>,
    hasher: DefaultHashBuilder,
}

impl Seen {
    /// How many keys are remembered.
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Remembers `key` as first seen at `now`, unless it is already remembered; says which.
    pub(super) fn insert(&mut self, now: i64, key: &str) -> bool {
        let Self { order, forgotten, index, hasher } = self;
        let hash = hasher.hash_one(key);
        if index.find(hash, |n| &*at(order, *forgotten, *n).1 == key).is_some() {
            return false;
        }
        let n = *forgotten + order.len() as u64;
        order.push_back((now, key.into()));
        index.insert_unique(hash, n, |n| hasher.hash_one(&*at(order, *forgotten, *n).1));
        true
    }

    /// When the oldest remembered key was first seen.
    pub(super) fn oldest(&self) -> Option<i64> {
        self.order.front().map(|(at, _)| *at)
    }

    /// Forgets the oldest key; false when none is left.
    pub(super) fn forget_oldest(&mut self) -> bool {
        let Some((_, key)) = self.order.pop_front() else { return false };
        let Self { forgotten, index, hasher, .. } = self;
        if let Ok(entry) = index.find_entry(hasher.hash_one(&*key), |n| *n == *forgotten) {
            entry.remove();
        }
        *forgotten += 1;
        true
    }
}

/// Key number `n` of `order`, whose front is number `forgotten`.
fn at(order: &VecDeque<(i64, Box<str>)>, forgotten: u64, n: u64) -> &(i64, Box<str>) {
    &order[(n - forgotten) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_remembered_once_and_forgotten_oldest_first() {
        let mut seen = Seen::default();
        assert!(seen.insert(1, "a") && seen.insert(2, "b") && seen.insert(3, "c"));
        assert!(!seen.insert(4, "b"), "b is remembered");
        assert_eq!(seen.oldest(), Some(1));
        assert!(seen.forget_oldest());
        assert!(!seen.insert(4, "c"));
        assert!(seen.insert(4, "a"), "a was forgotten");
        assert_eq!((seen.len(), seen.oldest()), (3, Some(2)));
        while seen.forget_oldest() {}
        assert_eq!(seen.len(), 0);
        assert!(seen.insert(5, "a") && seen.insert(5, "c"));
    }
}
