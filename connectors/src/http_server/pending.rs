//! The requests that wait for a reply (routes with `ack = "reply"`), process-wide: an
//! `http_response` sink answers a message's request by the id in its `request_id` attribute,
//! whichever `http_server` (of whichever pipeline of the process) took it. An entry lives while
//! its request waits: the handler's [`Waiting`] removes it when dropped (answered, timed out, or
//! the client went away), so the map holds at most the requests the servers are handling, which
//! their `max_concurrent_requests` bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use axum::response::Response;
use tokio::sync::oneshot;

/// The reply slots of the waiting requests, by id.
static PENDING: LazyLock<Mutex<HashMap<u64, oneshot::Sender<Response>>>> = LazyLock::new(Mutex::default);

/// The next request id; ids are never reused, so a late reply cannot answer another request.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn pending() -> MutexGuard<'static, HashMap<u64, oneshot::Sender<Response>>> {
    // The map stays consistent whatever panicked while holding it: inserts and removes only.
    PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A request waiting for its reply; its slot is removed when this is dropped.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// The id its messages carry.
    pub(crate) id: u64,
    /// Where the reply arrives.
    pub(crate) reply: oneshot::Receiver<Response>,
}

impl Waiting {
    /// Registers a new waiting request.
    pub(crate) fn register() -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (slot, reply) = oneshot::channel();
        pending().insert(id, slot);
        Self { id, reply }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        pending().remove(&self.id);
    }
}

/// Takes the reply slots of `ids` (one lock for a batch): `None` for an id whose request is not
/// waiting (answered already, timed out, gone, or never there).
pub(crate) fn take(ids: impl Iterator<Item = Option<u64>>) -> Vec<Option<oneshot::Sender<Response>>> {
    let mut pending = pending();
    ids.map(|id| pending.remove(&id?)).collect()
}
