//! Small state files that sources keep across restarts (a file source's checkpoints, a chain
//! source's last finished block), written whole and atomically: a temporary file beside the
//! target, fsynced, renamed over it, and the folder fsynced, so a crash at any moment leaves the
//! old contents or the new ones, never a mix.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces the contents of `path` with `bytes`, atomically and durably.
///
/// # Errors
/// When writing, syncing or renaming fails; the old contents are then still in place.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.to_path_buf().into_os_string();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    // The rename is only durable once the folder is.
    #[cfg(unix)]
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::File::open(folder)?.sync_all()?;
    }
    Ok(())
}

/// Creates the folder of `path` if it is missing.
///
/// # Errors
/// When it cannot be created.
pub(crate) fn prepare(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => std::fs::create_dir_all(folder),
        _ => Ok(()),
    }
}

#[cfg(any(feature = "kinesis", feature = "bigchaindb"))]
mod json;
#[cfg(any(feature = "kinesis", feature = "bigchaindb"))]
pub(crate) use json::{load_json, save_json};
