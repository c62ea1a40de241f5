//! The checkpoint file: for each file read, its identity and how far it has been read and
//! acknowledged. Written whole and atomically (a temporary file beside it, fsynced, renamed over
//! it, and the folder fsynced), so a crash at any moment leaves the old checkpoints or the new
//! ones, never a mix.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::{FileId, Fingerprint};
use crate::ndjson::Position;

/// The format version this runnel writes and reads.
const VERSION: u32 = 1;

/// Where one file's reading stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Checkpoint {
    /// Where the file was last seen, for people reading the checkpoints: files are recognised by
    /// identity, not by name.
    pub(crate) path: PathBuf,
    /// The file's device.
    pub(crate) dev: u64,
    /// The file's inode.
    pub(crate) inode: u64,
    /// A checksum of its first bytes.
    pub(crate) fingerprint: Fingerprint,
    /// Bytes read and acknowledged: a restart reads on from here.
    pub(crate) offset: u64,
    /// Lines before `offset`, so that line numbers go on after a restart.
    pub(crate) line: u64,
}

impl Checkpoint {
    /// The identity of the file it is about.
    pub(crate) fn id(&self) -> FileId {
        FileId { dev: self.dev, inode: self.inode }
    }

    /// Where to resume reading.
    pub(crate) fn position(&self) -> Position {
        Position { offset: self.offset, line: self.line }
    }
}

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    version: u32,
    files: Vec<Checkpoint>,
}

/// What went wrong with the checkpoint file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// The file exists but cannot be read (permissions, a folder in its place).
    #[error("cannot read the checkpoints in {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not checkpoints runnel wrote (damaged, or edited by hand).
    #[error("the checkpoints in {path} are corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// Writing, syncing or renaming failed.
    #[error("cannot write the checkpoints to {path}: {source}")]
    Unwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The checkpoint file of one source.
#[derive(Clone, Debug)]
pub(crate) struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The checkpoints written last; none if there is no checkpoint file yet.
    ///
    /// # Errors
    /// [`CheckpointError::Unreadable`] or [`CheckpointError::Corrupt`].
    pub(crate) fn load(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(CheckpointError::Unreadable { path: self.path.clone(), source }),
        };
        let corrupt = |reason: String| CheckpointError::Corrupt { path: self.path.clone(), reason };
        let file: CheckpointFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!("version {}, and this runnel reads version {VERSION}", file.version)));
        }
        Ok(file.files)
    }

    /// Moves a corrupt checkpoint file aside (to `<name>.corrupt`), so that it is kept for a
    /// look but not read again; returns where it went.
    ///
    /// # Errors
    /// When it cannot be renamed.
    pub(crate) fn set_aside(&self) -> io::Result<PathBuf> {
        let mut aside = self.path.clone().into_os_string();
        aside.push(".corrupt");
        let aside = PathBuf::from(aside);
        std::fs::rename(&self.path, &aside)?;
        Ok(aside)
    }

    /// Creates the checkpoint file's folder if it is missing.
    ///
    /// # Errors
    /// [`CheckpointError::Unwritable`] when it cannot be created.
    pub(crate) fn prepare(&self) -> Result<(), CheckpointError> {
        crate::state_file::prepare(&self.path).map_err(|source| CheckpointError::Unwritable { path: self.path.clone(), source })
    }

    /// Replaces the checkpoints with `files`, atomically.
    ///
    /// # Errors
    /// [`CheckpointError::Unwritable`]; the previous checkpoints are then still in place.
    pub(crate) fn save(&self, files: Vec<Checkpoint>) -> Result<(), CheckpointError> {
        self.write(&CheckpointFile { version: VERSION, files }).map_err(|source| CheckpointError::Unwritable { path: self.path.clone(), source })
    }

    fn write(&self, checkpoints: &CheckpointFile) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(checkpoints).map_err(io::Error::other)?;
        text.push(b'\n');
        crate::state_file::write_atomically(&self.path, &text)
    }
}
