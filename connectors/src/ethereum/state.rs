//! The source's state file: the last block whose messages were all acknowledged, so that a
//! restart resumes after it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chain::Header;
use crate::state_file;

/// What the file holds.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Saved {
    version: u32,
    chain_id: u64,
    number: u64,
    hash: String,
    parent: String,
}

/// The state file of one source.
#[derive(Clone, Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {reason}")]
pub(crate) struct StateError {
    path: PathBuf,
    reason: String,
}

impl StateFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, reason: impl ToString) -> StateError {
        StateError { path: self.path.clone(), reason: reason.to_string() }
    }

    /// The last finished block and the chain it is on; `None` when there is no file yet.
    pub(crate) fn load(&self) -> Result<Option<(u64, Header)>, StateError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.error(error)),
        };
        let saved: Saved = serde_json::from_slice(&text).map_err(|e| self.error(format!("corrupt: {e}")))?;
        if saved.version != 1 {
            return Err(self.error(format!("version {}, and this runnel reads version 1", saved.version)));
        }
        Ok(Some((saved.chain_id, Header { number: saved.number, hash: saved.hash, parent: saved.parent })))
    }

    /// Replaces the state, atomically.
    pub(crate) fn save(&self, chain_id: u64, finished: &Header) -> Result<(), StateError> {
        state_file::prepare(&self.path).map_err(|e| self.error(e))?;
        let saved = Saved { version: 1, chain_id, number: finished.number, hash: finished.hash.clone(), parent: finished.parent.clone() };
        let mut text = serde_json::to_vec_pretty(&saved).map_err(|e| self.error(e))?;
        text.push(b'\n');
        state_file::write_atomically(&self.path, &text).map_err(|e| self.error(e))
    }
}
