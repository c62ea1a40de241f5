//! The source's checkpoints: for each stream (told apart from an earlier stream of the same name
//! by its creation time) and shard, the next record to emit: everything before it is
//! acknowledged downstream. Written whole and atomically (`state_file`), read at start.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::state_file::{prepare, write_atomically};

/// The format version this runnel writes and reads.
const VERSION: u32 = 1;

/// One stream's checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamCheckpoint {
    /// The stream's creation time.
    pub(crate) created_ms: i64,
    /// The next record to emit, by shard index.
    pub(crate) shards: Vec<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    version: u32,
    streams: BTreeMap<String, StreamCheckpoint>,
}

/// The checkpoint file of one source.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    path: PathBuf,
    /// The checkpoints, by stream name.
    pub(crate) streams: BTreeMap<String, StreamCheckpoint>,
}

impl Checkpoints {
    /// Reads `path`; none yet if it does not exist.
    ///
    /// # Errors
    /// When it cannot be read or is not checkpoints this runnel wrote.
    pub(crate) fn load(path: PathBuf) -> io::Result<Self> {
        let streams = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: CheckpointFile = serde_json::from_slice(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("the checkpoints in {} are corrupt: {e}", path.display())))?;
                if file.version != VERSION {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the checkpoints in {} have version {}, not {VERSION}", path.display(), file.version),
                    ));
                }
                file.streams
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Self { path, streams })
    }

    /// Where the file is.
    pub(crate) fn path(&self) -> &PathBuf {
        &self.path
    }

    /// Writes them, atomically and durably.
    ///
    /// # Errors
    /// When writing, syncing or renaming fails; the old file is then still in place.
    pub(crate) fn save(&self) -> io::Result<()> {
        prepare(&self.path)?;
        let file = CheckpointFile { version: VERSION, streams: self.streams.clone() };
        let bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        write_atomically(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("deep/node.kinesis-checkpoints.json");
        let mut checkpoints = Checkpoints::load(path.clone()).expect("none yet");
        checkpoints.streams.insert("chat".into(), StreamCheckpoint { created_ms: 5, shards: vec![3, 0] });
        checkpoints.save().expect("saved");
        assert_eq!(Checkpoints::load(path.clone()).expect("read").streams["chat"].shards, [3, 0]);
        std::fs::write(&path, b"{").expect("damaged");
        assert!(Checkpoints::load(path).is_err());
    }
}
