//! The streams an endpoint holds, each a folder under the data folder: `stream-<name>/stream.json`
//! (shard count, creation time, retention, written atomically) and one shard log per shard
//! (`shardId-000000000000/`). Streams are found again at start; a deleted stream's folder is
//! renamed away first, so a crash mid-delete never brings half of it back.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use super::hashing;
use super::shard_log::{ShardLog, sync_dir};
use crate::state_file::write_atomically;

/// A stream's settings, as kept in its `stream.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamMeta {
    /// Its name.
    pub(crate) name: String,
    /// Its shards.
    pub(crate) shards: u32,
    /// When it was created, ms since the epoch: part of its sequence numbers, and what tells it
    /// from an earlier stream of the same name.
    pub(crate) created_ms: i64,
    /// How long records are kept.
    pub(crate) retention_hours: u32,
}

/// One shard: its range, its log and its write queue's length.
#[derive(Debug)]
pub(crate) struct Shard {
    /// Its index in the stream.
    pub(crate) index: u32,
    /// `shardId-000000000000`.
    pub(crate) id: String,
    /// Its hash keys, both ends included.
    pub(crate) range: (u128, u128),
    /// Its records.
    pub(crate) log: ShardLog,
    /// Records accepted and not yet written: a put past the queue's bound is throttled.
    pub(crate) queued: AtomicUsize,
    /// The source's checkpoint: every record before it is delivered downstream (what
    /// `ack = "delivered"` puts wait for).
    pub(crate) delivered: watch::Sender<u64>,
}

/// A stream and its shards.
#[derive(Debug)]
pub(crate) struct StreamState {
    /// Its settings.
    pub(crate) meta: StreamMeta,
    /// Its folder.
    pub(crate) dir: PathBuf,
    /// Its shards, by index.
    pub(crate) shards: Vec<Shard>,
    /// Set once it is deleted: writes in flight fail.
    pub(crate) deleted: AtomicBool,
}

impl StreamState {
    /// The shard that takes hash key `key`.
    pub(crate) fn shard_for(&self, key: u128) -> &Shard {
        let index = hashing::shard_for(key, self.meta.shards) as usize;
        &self.shards[index.min(self.shards.len() - 1)]
    }

    /// The shard called `id` (`shardId-000000000001`; AWS also takes a bare `1`... not here).
    pub(crate) fn shard(&self, id: &str) -> Option<&Shard> {
        self.shards.iter().find(|s| s.id == id)
    }
}

/// `shardId-%012d`.
pub(crate) fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// What creating a stream can run into.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    /// A stream of that name exists.
    #[error("the stream exists")]
    Exists,
    /// Its folder or logs could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Every stream of an endpoint.
#[derive(Debug)]
pub(crate) struct Streams {
    root: PathBuf,
    segment_bytes: u64,
    by_name: RwLock<BTreeMap<String, Arc<StreamState>>>,
    /// Told when records are written or streams come and go, so the source reads on.
    pub(crate) changed: Notify,
}

impl Streams {
    /// The streams kept under `root` (created if missing).
    ///
    /// # Errors
    /// When `root`, a stream's settings or its logs cannot be read.
    pub(crate) fn open(root: &Path, segment_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let mut by_name = BTreeMap::new();
        for entry in std::fs::read_dir(root)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with(".deleted-") {
                std::fs::remove_dir_all(&path)?;
                continue;
            }
            if !name.starts_with("stream-") {
                continue;
            }
            let text = match std::fs::read(path.join("stream.json")) {
                Ok(text) => text,
                // Created up to its folder only, before a crash: never answered as created.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::remove_dir_all(&path)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let meta: StreamMeta =
                serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
            let stream = open_stream(meta, path, segment_bytes)?;
            by_name.insert(stream.meta.name.clone(), Arc::new(stream));
        }
        Ok(Self { root: root.to_owned(), segment_bytes, by_name: RwLock::new(by_name), changed: Notify::new() })
    }

    /// The stream called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<StreamState>> {
        self.by_name.read().ok()?.get(name).cloned()
    }

    /// Every stream, by name.
    pub(crate) fn all(&self) -> Vec<Arc<StreamState>> {
        self.by_name.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Creates stream `meta.name`, durably, before it is answered as created.
    ///
    /// # Errors
    /// [`CreateError::Exists`], or when its folder cannot be written.
    pub(crate) fn create(&self, meta: StreamMeta) -> Result<Arc<StreamState>, CreateError> {
        let mut by_name = self.by_name.write().map_err(|_| io::Error::other("the streams' lock is poisoned"))?;
        if by_name.contains_key(&meta.name) {
            return Err(CreateError::Exists);
        }
        let dir = self.root.join(format!("stream-{}", meta.name));
        std::fs::create_dir_all(&dir)?;
        let stream = open_stream(meta, dir.clone(), self.segment_bytes)?;
        let text = serde_json::to_vec_pretty(&stream.meta).map_err(io::Error::other)?;
        write_atomically(&dir.join("stream.json"), &text)?;
        sync_dir(&self.root)?;
        let stream = Arc::new(stream);
        by_name.insert(stream.meta.name.clone(), Arc::clone(&stream));
        drop(by_name);
        self.changed.notify_one();
        Ok(stream)
    }

    /// Deletes stream `name`: gone from the API at once, its files soon after.
    ///
    /// # Errors
    /// When its folder cannot be renamed away.
    pub(crate) fn delete(&self, name: &str, now_ms: i64) -> io::Result<Option<Arc<StreamState>>> {
        let Some(stream) = self.by_name.write().map_err(|_| io::Error::other("the streams' lock is poisoned"))?.remove(name) else { return Ok(None) };
        stream.deleted.store(true, Ordering::SeqCst);
        let doomed = self.root.join(format!(".deleted-{name}-{now_ms}"));
        std::fs::rename(&stream.dir, &doomed)?;
        sync_dir(&self.root)?;
        std::fs::remove_dir_all(&doomed)?;
        self.changed.notify_one();
        Ok(Some(stream))
    }
}

fn open_stream(meta: StreamMeta, dir: PathBuf, segment_bytes: u64) -> io::Result<StreamState> {
    let shards = (0..meta.shards)
        .map(|index| {
            let id = shard_id(index);
            let log = ShardLog::open(&dir.join(&id), segment_bytes)?;
            Ok(Shard {
                index,
                range: hashing::shard_range(index, meta.shards),
                id,
                log,
                queued: AtomicUsize::new(0),
                delivered: watch::Sender::new(0),
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(StreamState { meta, dir, shards, deleted: AtomicBool::new(false) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, shards: u32) -> StreamMeta {
        StreamMeta { name: name.into(), shards, created_ms: 1_700_000_000_000, retention_hours: 24 }
    }

    #[test]
    fn streams_are_found_again_and_deleted_ones_are_not() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let streams = Streams::open(dir.path(), 1 << 20).expect("opened");
        streams.create(meta("chat", 4)).expect("created");
        streams.create(meta("gone", 1)).expect("created");
        assert!(matches!(streams.create(meta("chat", 1)), Err(CreateError::Exists)));
        streams.delete("gone", 1).expect("deleted");
        drop(streams);
        let streams = Streams::open(dir.path(), 1 << 20).expect("reopened");
        assert_eq!(streams.all().iter().map(|s| s.meta.name.as_str()).collect::<Vec<_>>(), ["chat"]);
        let chat = streams.get("chat").expect("chat");
        assert_eq!((chat.shards.len(), chat.shards[3].id.as_str()), (4, "shardId-000000000003"));
        assert_eq!(chat.shard_for(hashing::hash_key("user-42")).index, 1);
    }
}
