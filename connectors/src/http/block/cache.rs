//! The `http` block's cache: answers by key, each used for `ttl` after it came, at most
//! `max_entries` of them. Every entry lives as long, so the order entries came in is also the
//! order they expire in: one queue serves both the TTL and the bound, oldest out first.
//!
//! A key being asked is marked pending, so that other messages with that key wait for its
//! answer instead of asking too; if that call fails (or is dropped) the mark goes, and each
//! waiting message asks for itself.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
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

/// What the cache holds for a key.
#[derive(Debug)]
enum Slot {
    /// An answer, until its expiry.
    Ready(Instant, Arc<Cached>),
    /// A call asking for it: its ticket, and where its answer will be announced.
    Pending(u64, watch::Receiver<Option<Arc<Cached>>>),
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Arc<str>, Slot>,
    /// Keys in the order their answers were stored, with their expiry; a key stored again leaves
    /// its older place here, skipped when it comes out.
    order: VecDeque<(Arc<str>, Instant)>,
    tickets: u64,
}

/// What a lookup found.
#[derive(Debug)]
pub(super) enum Lookup<'a> {
    /// A live answer.
    Hit(Arc<Cached>),
    /// Another call is asking: its answer comes on this channel, or the channel closes if it
    /// fails.
    Wait(watch::Receiver<Option<Arc<Cached>>>),
    /// Nothing: the caller asks, and stores the answer with [`Filling::fill`].
    Miss(Filling<'a>),
}

/// The right and duty to store the answer of a key marked pending; dropped unfilled, it takes the
/// mark away.
#[derive(Debug)]
pub(super) struct Filling<'a> {
    cache: &'a Cache,
    key: Arc<str>,
    ticket: u64,
    announce: watch::Sender<Option<Arc<Cached>>>,
}

impl Cache {
    pub(super) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { ttl, max_entries, entries: Mutex::new(Entries::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the cache has for `key`; on a miss the key is marked pending for the caller.
    pub(super) fn lookup(&self, key: &str) -> Lookup<'_> {
        let mut entries = self.lock();
        match entries.by_key.get(key) {
            Some(Slot::Ready(expires, cached)) if *expires > Instant::now() => return Lookup::Hit(cached.clone()),
            Some(Slot::Pending(_, announced)) => return Lookup::Wait(announced.clone()),
            _ => {}
        }
        entries.tickets += 1;
        let ticket = entries.tickets;
        let (announce, announced) = watch::channel(None);
        let key: Arc<str> = Arc::from(key);
        entries.by_key.insert(key.clone(), Slot::Pending(ticket, announced));
        Lookup::Miss(Filling { cache: self, key, ticket, announce })
    }

    /// Entries held, answers and pending keys, live or not yet dropped.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().by_key.len()
    }
}

impl Filling<'_> {
    /// Stores `cached` for the key and hands it to the calls waiting for it, dropping expired
    /// answers and, past `max_entries`, the oldest.
    pub(super) fn fill(self, cached: Arc<Cached>) {
        let now = Instant::now();
        let cache = self.cache;
        let mut entries = cache.lock();
        let expires = now + cache.ttl;
        entries.by_key.insert(self.key.clone(), Slot::Ready(expires, cached.clone()));
        entries.order.push_back((self.key.clone(), expires));
        while let Some((oldest, at)) = entries.order.front().cloned() {
            if at > now && entries.by_key.len() <= cache.max_entries {
                break;
            }
            entries.order.pop_front();
            if matches!(entries.by_key.get(&oldest), Some(Slot::Ready(expires, _)) if *expires == at) {
                entries.by_key.remove(&oldest);
            }
        }
        drop(entries);
        self.announce.send_replace(Some(cached));
    }
}

impl Drop for Filling<'_> {
    fn drop(&mut self) {
        let mut entries = self.cache.lock();
        if matches!(entries.by_key.get(&self.key), Some(Slot::Pending(ticket, _)) if *ticket == self.ticket) {
            entries.by_key.remove(&self.key);
        }
    }
}
