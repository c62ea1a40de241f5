//! The batches the `http` sink gathers, one per URL: each message encoded once, appended to
//! its batch's body (`,`-separated for a JSON array, a line each for NDJSON), and the batch sealed
//! at `max_events`, `max_bytes` or its deadline.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use bytes::Bytes;
use runnel_engine::Message;
use tokio::time::Instant;

use super::config::{BatchConfig, Encoding};

/// Batches gathered at once, for as many URLs, at most: past that the oldest is sent before a
/// new URL starts one, so that a template with many values keeps memory bounded.
const MAX_OPEN_BATCHES: usize = 1_024;

/// A sealed batch: its messages and its request body.
pub(super) struct Batch {
    pub(super) messages: Vec<Message>,
    pub(super) body: Bytes,
}

/// A batch still gathering: its messages, its body so far, and when it is due.
struct Pending {
    messages: Vec<Message>,
    body: Vec<u8>,
    deadline: Instant,
}

/// The batches being gathered, one per URL.
pub(super) struct Batches {
    config: BatchConfig,
    encoding: Encoding,
    pending: HashMap<String, Pending>,
    item: Vec<u8>,
}

impl Batches {
    pub(super) fn new(config: BatchConfig, encoding: Encoding) -> Self {
        Self { config, encoding, pending: HashMap::new(), item: Vec::new() }
    }

    /// Adds `message` to the batch of `url`; returns the batches now ready to send.
    pub(super) fn push(&mut self, url: String, message: Message) -> Vec<(String, Batch)> {
        self.item.clear();
        if let Err(error) = crate::codec::encode(&message, &mut self.item) {
            // Never for a value parsed from JSON; the message is sent as its serde_json text.
            tracing::debug!(%error, "http sink: encoding with serde_json instead");
            self.item = message.value().to_string().into_bytes();
        }
        if self.config.max_events == 1 {
            // A request per message: no batch to gather.
            let body = match self.encoding {
                Encoding::Ndjson => {
                    let mut body = Vec::with_capacity(self.item.len() + 1);
                    body.extend_from_slice(&self.item);
                    body.push(b'\n');
                    body
                }
                Encoding::Json => std::mem::take(&mut self.item),
            };
            return vec![(url, Batch { messages: vec![message], body: Bytes::from(body) })];
        }
        let mut ready = Vec::new();
        let framing = self.framing();
        let ndjson = self.encoding == Encoding::Ndjson;
        // The URL is hashed twice per message (here and for its entry), and cloned only when a
        // batch is sealed before this message joins one.
        let mut open = false;
        if let Some(pending) = self.pending.get(&url) {
            let separator = usize::from(ndjson || !pending.messages.is_empty());
            open = pending.body.len() + separator + self.item.len() + framing <= self.config.max_bytes;
            if !open {
                if let Some(pending) = self.pending.remove(&url) {
                    ready.push((url.clone(), self.seal(pending)));
                }
            }
        }
        if !open && self.pending.len() >= MAX_OPEN_BATCHES {
            let oldest = self.pending.iter().min_by_key(|(_, p)| p.deadline).map(|(url, _)| url.clone());
            if let Some((oldest, pending)) = oldest.and_then(|oldest| self.pending.remove_entry(&oldest)) {
                ready.push((oldest, self.seal(pending)));
            }
        }
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let mut entry = match self.pending.entry(url) {
            Entry::Occupied(entry) => entry,
            Entry::Vacant(entry) => entry.insert_entry(Pending { messages: Vec::new(), body: Vec::new(), deadline: Instant::now() + timeout }),
        };
        let pending = entry.get_mut();
        if self.encoding == Encoding::Json && !pending.messages.is_empty() {
            pending.body.push(b',');
        }
        pending.body.extend_from_slice(&self.item);
        if ndjson {
            pending.body.push(b'\n');
        }
        pending.messages.push(message);
        if pending.messages.len() >= self.config.max_events || pending.body.len() + framing >= self.config.max_bytes {
            let (url, pending) = entry.remove_entry();
            ready.push((url, self.seal(pending)));
        }
        ready
    }

    /// Bytes a sealed body adds around its messages: a JSON array's brackets.
    fn framing(&self) -> usize {
        if self.encoding == Encoding::Json && self.config.max_events > 1 { 2 } else { 0 }
    }

    /// The request body of a gathered batch.
    fn seal(&self, pending: Pending) -> Batch {
        let body = match self.encoding {
            Encoding::Json if self.config.max_events > 1 => {
                let mut body = Vec::with_capacity(pending.body.len() + 2);
                body.push(b'[');
                body.extend_from_slice(&pending.body);
                body.push(b']');
                body
            }
            _ => pending.body,
        };
        Batch { messages: pending.messages, body: Bytes::from(body) }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    pub(super) fn take_due(&mut self, now: Instant) -> Vec<(String, Batch)> {
        let due: Vec<String> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(url, _)| url.clone()).collect();
        due.into_iter().filter_map(|url| self.pending.remove(&url).map(|p| (url, self.seal(p)))).collect()
    }

    pub(super) fn take_all(&mut self) -> Vec<(String, Batch)> {
        let all: Vec<(String, Pending)> = self.pending.drain().collect();
        all.into_iter().map(|(url, p)| (url, self.seal(p))).collect()
    }
}
