//! Versioned JSON state, for sources whose state is a document (the `kinesis` source's
//! per-shard checkpoints, the `bigchaindb` source's last finished height): `{"version": N, ...}`, read back only by a runnel that knows version N.

use std::io;
use std::path::{Path, PathBuf};

use super::{prepare, write_atomically};

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {reason}")]
pub(crate) struct StateError {
    path: PathBuf,
    reason: String,
}

impl StateError {
    fn new(path: &Path, reason: impl ToString) -> Self {
        Self { path: path.to_owned(), reason: reason.to_string() }
    }
}

/// A document with its format's version, as state files are written.
#[derive(serde::Serialize, serde::Deserialize)]
struct Versioned<T> {
    version: u32,
    #[serde(flatten)]
    state: T,
}

/// Reads the JSON state at `path`, written by [`save_json`] with format `version`; `None` when
/// there is no file yet.
///
/// # Errors
/// When the file cannot be read, is not such a document, or has another version.
pub(crate) fn load_json<T: serde::de::DeserializeOwned>(path: &Path, version: u32) -> Result<Option<T>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StateError::new(path, error)),
    };
    let found: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| StateError::new(path, format!("corrupt: {e}")))?;
    match found.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(version) => {}
        Some(v) => return Err(StateError::new(path, format!("version {v}, and this runnel reads version {version}"))),
        None => return Err(StateError::new(path, "corrupt: no `version`")),
    }
    let versioned: Versioned<T> = serde_json::from_value(found).map_err(|e| StateError::new(path, format!("corrupt: {e}")))?;
    Ok(Some(versioned.state))
}

/// Replaces the JSON state at `path` with `state`, as format `version`, atomically and
/// durably (creating its folder if needed).
///
/// # Errors
/// When the folder or file cannot be written; the old state is then still in place.
pub(crate) fn save_json<T: serde::Serialize>(path: &Path, version: u32, state: &T) -> Result<(), StateError> {
    prepare(path).map_err(|e| StateError::new(path, e))?;
    let mut bytes = serde_json::to_vec_pretty(&Versioned { version, state }).map_err(|e| StateError::new(path, e))?;
    bytes.push(b'\n');
    write_atomically(path, &bytes).map_err(|e| StateError::new(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_state_round_trips_and_refuses_another_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/state.json");
        assert!(load_json::<serde_json::Value>(&path, 1).unwrap().is_none());
        let state = serde_json::json!({"shards": {"shardId-000000000000": "123"}});
        save_json(&path, 1, &state).unwrap();
        assert_eq!(load_json::<serde_json::Value>(&path, 1).unwrap(), Some(state));
        let error = load_json::<serde_json::Value>(&path, 2).unwrap_err().to_string();
        assert!(error.contains("version 1, and this runnel reads version 2"), "{error}");
        std::fs::write(&path, "{").unwrap();
        assert!(load_json::<serde_json::Value>(&path, 1).unwrap_err().to_string().contains("corrupt"));
    }
}
