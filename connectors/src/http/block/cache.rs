//! The `http` block's cache: answers by key, each used for `ttl` after it came, at most
//! `max_entries` of them. Every entry lives as long, so the order entries came in is also the
//! order they expire in: one queue serves both the TTL and the bound, oldest out first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

/// An answer as merged into messages.
#[derive(Debug)]
pub(super) struct Cached {
    /// The answer's body as a value.
    pub(super) response: Value,
    /// Its status code.
    pub(super) status: u16,
}

/// The answers kept, shared by the block's calls.
#[derive(Debug)]
pub(super) struct Cache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Arc<str>, (Instant, Arc<Cached>)>,
    /// Keys in the order they were stored, with their expiry; a key stored again leaves its
    /// older place here, skipped when it comes out.
    order: VecDeque<(Arc<str>, Instant)>,
}

impl Cache {
    pub(super) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { ttl, max_entries, entries: Mutex::new(Entries::default()) }
    }

    /// The live answer for `key`, if any.
    pub(super) fn get(&self, key: &str) -> Option<Arc<Cached>> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.by_key.get(key).filter(|(expires, _)| *expires > Instant::now()).map(|(_, cached)| cached.clone())
    }

    /// Keeps `cached` for `key`, dropping expired entries and, past `max_entries`, the oldest.
    pub(super) fn put(&self, key: &str, cached: Arc<Cached>) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key: Arc<str> = Arc::from(key);
        let expires = now + self.ttl;
        entries.by_key.insert(key.clone(), (expires, cached));
        entries.order.push_back((key, expires));
        while let Some((oldest, at)) = entries.order.front().cloned() {
            if at > now && entries.by_key.len() <= self.max_entries {
                break;
            }
            entries.order.pop_front();
            if entries.by_key.get(&oldest).is_some_and(|(expires, _)| *expires == at) {
                entries.by_key.remove(&oldest);
            }
        }
    }

    /// Entries held, live or not yet dropped.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).by_key.len()
    }
}
