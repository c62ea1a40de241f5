//! One connected client as the hub sees it: its identity, its channels, and its bounded queue of
//! frames to write, with the slow-consumer policy applied when the queue is full.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use runnel_engine::CancellationToken;
use tokio::sync::Notify;

use super::config::SlowConsumer;

/// Why the server ends a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// The pipeline is stopping: the client gets what was queued, then a close (1001).
    Shutdown,
    /// The client's queue overflowed under `slow_consumer = "disconnect"` (1008).
    SlowConsumer,
    /// The client sent a frame larger than `max_frame_bytes` (1009).
    TooLarge,
    /// The client closed the connection: nothing more is written but the answer to its close.
    Peer,
}

/// What pushing frames into a client's queue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Frames dropped to make room (drop-oldest policy).
    pub(crate) dropped: usize,
    /// Whether this push disconnected the client (disconnect policy).
    pub(crate) disconnected: bool,
}

#[derive(Debug)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    closing: Option<Close>,
}

/// A connected client.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: Arc<str>,
    pub(crate) user: Option<Arc<str>>,
    capacity: usize,
    policy: SlowConsumer,
    queue: Mutex<Queue>,
    wake: Notify,
    /// Cancelled to cut the connection at once, even in the middle of a write.
    pub(crate) kill: CancellationToken,
    channels: Mutex<BTreeSet<Arc<str>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    pub(crate) fn new(id: Arc<str>, user: Option<Arc<str>>, capacity: usize, policy: SlowConsumer) -> Self {
        Self {
            id,
            user,
            capacity,
            policy,
            queue: Mutex::new(Queue { frames: VecDeque::new(), closing: None }),
            wake: Notify::new(),
            kill: CancellationToken::new(),
            channels: Mutex::new(BTreeSet::new()),
        }
    }

    /// Queues `frames` for writing, applying the slow-consumer policy if they do not fit.
    pub(crate) fn push(&self, frames: &[Utf8Bytes]) -> Pushed {
        let mut pushed = Pushed::default();
        {
            let mut queue = lock(&self.queue);
            if queue.closing.is_some() {
                return pushed;
            }
            let overflow = (queue.frames.len() + frames.len()).saturating_sub(self.capacity);
            match self.policy {
                SlowConsumer::Disconnect if overflow > 0 => {
                    pushed.dropped = queue.frames.len();
                    queue.frames.clear();
                    queue.closing = Some(Close::SlowConsumer);
                    pushed.disconnected = true;
                    self.kill.cancel();
                }
                _ => {
                    let from_queue = overflow.min(queue.frames.len());
                    queue.frames.drain(..from_queue);
                    let skip = overflow - from_queue;
                    queue.frames.extend(frames[skip..].iter().cloned());
                    pushed.dropped = overflow;
                }
            }
        }
        self.wake.notify_one();
        pushed
    }

    /// Asks the writer to finish what is queued (all but for a peer that left) and close.
    pub(crate) fn close(&self, why: Close) {
        {
            let mut queue = lock(&self.queue);
            if why == Close::Peer {
                queue.frames.clear();
            }
            queue.closing.get_or_insert(why);
        }
        self.wake.notify_one();
    }

    /// Waits for frames to write and moves them all into `out`; returns why to close once the
    /// queue is empty and the connection is closing. Only the client's writer calls this.
    pub(crate) async fn next(&self, out: &mut Vec<Utf8Bytes>) -> Option<Close> {
        loop {
            {
                let mut queue = lock(&self.queue);
                if !queue.frames.is_empty() {
                    out.extend(queue.frames.drain(..));
                    return None;
                }
                if let Some(why) = queue.closing {
                    return Some(why);
                }
            }
            // `notify_one` stores a permit when nobody waits, so a push between the check and
            // this wait is not missed.
            self.wake.notified().await;
        }
    }

    /// Records a subscription; false if the client already had it.
    pub(crate) fn add_channel(&self, channel: &Arc<str>) -> bool {
        lock(&self.channels).insert(channel.clone())
    }

    /// Records a subscription if the client has fewer than `max` channels: whether it is new,
    /// or `None` when it is not and there is no room.
    pub(crate) fn add_channel_within(&self, channel: &Arc<str>, max: usize) -> Option<bool> {
        let mut channels = lock(&self.channels);
        if channels.contains(channel) {
            Some(false)
        } else if channels.len() >= max {
            None
        } else {
            Some(channels.insert(channel.clone()))
        }
    }

    /// Forgets a subscription; false if the client did not have it.
    pub(crate) fn remove_channel(&self, channel: &str) -> bool {
        lock(&self.channels).remove(channel)
    }

    /// The client's channels, taken out (when it leaves).
    pub(crate) fn take_channels(&self) -> BTreeSet<Arc<str>> {
        std::mem::take(&mut *lock(&self.channels))
    }
}
