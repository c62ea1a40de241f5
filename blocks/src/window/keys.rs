//! The keys of a window block, each held once: a slot per key with its text and its open panes,
//! found by the hash of the text, and named elsewhere by a 4-byte [`KeyId`].
//!
//! What an open window costs is mostly here, so the layout is chosen for it: the hash index holds
//! only ids (4 bytes, where a map keyed by the text would hold a whole slot per spare bucket), the
//! slots sit in fixed-size chunks (growing copies nothing and leaves at most one chunk spare), and
//! a key's panes are inline while it has one (a tumbling window, or one session).

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use serde_json::Value;
use smallvec::SmallVec;

use super::pane::Pane;

/// A key's slot: how the closing order and the panes refer to a key without a copy of it.
pub(super) type KeyId = u32;

/// Slots per chunk. The first chunk grows by doubling up to this; later ones are allocated whole.
const CHUNK: usize = 1024;

/// One key: its text, whether it arrived as a JSON value other than a string, and its open panes
/// ordered by start.
#[derive(Debug, Default)]
pub(super) struct Slot {
    text: Box<str>,
    json: bool,
    pub(super) panes: SmallVec<[Pane; 1]>,
}

impl Slot {
    /// The index in `panes` of the pane starting at `start`, or where it would go.
    pub(super) fn find(&self, start: i64) -> Result<usize, usize> {
        self.panes.binary_search_by_key(&start, |pane| pane.start)
    }

    /// Takes out the pane starting at `start`.
    pub(super) fn take(&mut self, start: i64) -> Option<Pane> {
        let pane = self.panes.remove(self.find(start).ok()?);
        if self.panes.len() <= 1 && self.panes.spilled() {
            // Back inline: a key that had several windows open costs one again.
            self.panes.shrink_to_fit();
        }
        Some(pane)
    }
}

/// A key as a closed window reports it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct KeyText {
    /// The key's text: a string key itself, any other value as JSON.
    pub(super) text: String,
    /// Whether the key was a value other than a string (`text` is then its JSON).
    pub(super) json: bool,
}

impl KeyText {
    /// The key as the value it arrived as.
    pub(super) fn value(&self) -> Value {
        if self.json {
            // The text is `Value::to_string` output, which parses back to the same value.
            serde_json::from_str(&self.text).unwrap_or_else(|_| Value::String(self.text.clone()))
        } else {
            Value::String(self.text.clone())
        }
    }
}

/// Every key holding an open pane.
#[derive(Debug, Default)]
pub(super) struct Keys {
    /// Slot ids, by the hash of their key's text.
    index: HashTable<KeyId>,
    hasher: DefaultHashBuilder,
    chunks: Vec<Vec<Slot>>,
    /// Slots left empty by keys whose last pane closed, reused first.
    free: Vec<KeyId>,
}

/// More keys are open than a [`KeyId`] can number (over 4 billion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooManyKeys;

impl fmt::Display for TooManyKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the window block has {} keys open, as many as it can hold", KeyId::MAX)
    }
}

impl Keys {
    /// The slot of the key whose text is `text`, made for `key` if it is new.
    pub(super) fn intern(&mut self, text: &str, key: &Value) -> Result<KeyId, TooManyKeys> {
        let hash = self.hasher.hash_one(text);
        let Self { index, hasher, chunks, free } = self;
        if let Some(id) = index.find(hash, |id| &*slot(chunks, *id).text == text) {
            return Ok(*id);
        }
        let new = Slot { text: text.into(), json: !key.is_string(), panes: SmallVec::new() };
        let id = match free.pop() {
            Some(id) => {
                *slot_mut(chunks, id) = new;
                id
            }
            None => {
                let id = KeyId::try_from(chunks.len().saturating_sub(1) * CHUNK + chunks.last().map_or(0, Vec::len)).map_err(|_| TooManyKeys)?;
                match chunks.last_mut() {
                    Some(chunk) if chunk.len() < CHUNK => chunk.push(new),
                    // The first chunk grows by doubling as it fills; later ones are allocated whole.
                    _ => {
                        let mut chunk = if chunks.is_empty() { Vec::new() } else { Vec::with_capacity(CHUNK) };
                        chunk.push(new);
                        chunks.push(chunk);
                    }
                }
                id
            }
        };
        index.insert_unique(hash, id, |id| hasher.hash_one(&*slot(chunks, *id).text));
        Ok(id)
    }

    /// The slot `id`.
    ///
    /// # Panics
    ///
    /// If `id` was never handed out by [`Keys::intern`].
    pub(super) fn get_mut(&mut self, id: KeyId) -> &mut Slot {
        slot_mut(&mut self.chunks, id)
    }

    /// Empties the slot `id`, whose key has no pane left, for reuse; returns its key.
    pub(super) fn release(&mut self, id: KeyId) -> KeyText {
        let Self { index, hasher, chunks, free } = self;
        let slot = std::mem::take(slot_mut(chunks, id));
        if let Ok(entry) = index.find_entry(hasher.hash_one(&*slot.text), |other| *other == id) {
            entry.remove();
        }
        free.push(id);
        KeyText { text: slot.text.into_string(), json: slot.json }
    }

    /// The key of slot `id`, copied.
    pub(super) fn text(&mut self, id: KeyId) -> KeyText {
        let slot = self.get_mut(id);
        KeyText { text: slot.text.to_string(), json: slot.json }
    }
}

fn slot(chunks: &[Vec<Slot>], id: KeyId) -> &Slot {
    let id = id as usize;
    &chunks[id / CHUNK][id % CHUNK]
}

fn slot_mut(chunks: &mut [Vec<Slot>], id: KeyId) -> &mut Slot {
    let id = id as usize;
    &mut chunks[id / CHUNK][id % CHUNK]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_slot_with_one_pane_is_thirteen_words() {
        assert_eq!(std::mem::size_of::<Slot>(), 104);
    }

    #[test]
    fn keys_are_found_by_text_and_slots_are_reused() {
        let mut keys = Keys::default();
        let ids: Vec<KeyId> = (0..3000).map(|i| keys.intern(&format!("k{i}"), &json!(format!("k{i}"))).unwrap()).collect();
        assert_eq!(ids, (0..3000).collect::<Vec<_>>(), "ids count up through the chunks");
        assert_eq!(keys.chunks.iter().map(Vec::capacity).collect::<Vec<_>>(), [CHUNK, CHUNK, CHUNK]);
        assert_eq!(keys.intern("k1500", &json!("k1500")), Ok(1500));
        assert_eq!(keys.release(1500), KeyText { text: "k1500".into(), json: false });
        assert_eq!(keys.intern("7", &json!(7)), Ok(1500), "a freed slot is reused");
        assert_eq!(keys.intern("7", &json!("7")), Ok(1500), "a key is its text: 7 and \"7\" are one key");
        assert_eq!(keys.text(1500).value(), json!(7), "as first seen");
        assert_eq!(keys.intern("k1500", &json!("k1500")), Ok(3000));
    }

    #[test]
    fn keys_other_than_strings_come_back_as_they_arrived() {
        for key in [json!(null), json!(12), json!(-1.5), json!(true), json!({"a": [1, "b"]}), json!("{}")] {
            let text = crate::time::key_text(&key).into_owned();
            let mut keys = Keys::default();
            let id = keys.intern(&text, &key).unwrap();
            assert_eq!(keys.release(id).value(), key);
        }
    }
}
