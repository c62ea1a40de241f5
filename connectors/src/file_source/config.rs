//! The `file` source's configuration, and building it: the patterns checked, the checkpoints
//! loaded, the files found and placed where reading starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Resource, Role, async_trait};
use serde::Deserialize;

use super::checkpoint::{Checkpoint, CheckpointError, CheckpointStore};
use super::identity::FileId;
use super::scan::{Patterns, Report, scan};
use super::watched::{Opened, ReadFrom, place};
use super::{FileSource, Settings};
use crate::ndjson::DEFAULT_MAX_LINE_BYTES;

/// Reads newline-delimited JSON from a file, or from every file a glob pattern matches.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// The file to read, or a glob pattern for several (`logs/*.ndjson`, `logs/**/*.ndjson`);
    /// relative paths are relative to the pipeline file.
    pub path: PathBuf,
    /// Glob patterns of files that `path` matches but that are not to be read (rotated copies,
    /// compressed archives); relative ones are relative to the pipeline file.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Keep reading lines appended to the files after their end, until shutdown (like `tail -F`):
    /// files truncated in place are read again from their start, a file renamed away is read to
    /// its end while the new file at its path is read too, and new files matching `path` are
    /// picked up.
    #[serde(default)]
    pub follow: bool,
    /// How often a following source looks for appended lines and for new, truncated or renamed
    /// files, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// The longest line read, in bytes: a longer one goes to the `errors` port with its line
    /// number and first bytes, without being buffered whole.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Where to start reading a file the source has no checkpoint for, among those found when it
    /// starts: `beginning` or `end` (after its last complete line). Files that appear later are
    /// read from their beginning.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Keep checkpoints: for each file, how far every line has been delivered (or dropped on
    /// purpose) downstream, so that a restart resumes there instead of at `read_from`.
    #[serde(default = "yes")]
    pub checkpoints: bool,
    /// The checkpoint file. By default `.runnel/<pipeline file name>/<source name>.checkpoints.json`
    /// beside the pipeline file; a pipeline that was not read from a file keeps no checkpoints
    /// unless this is set. Relative paths are relative to the pipeline file.
    #[serde(default)]
    pub checkpoint_path: Option<PathBuf>,
    /// How often the checkpoints are written, in milliseconds (and once more when the source
    /// stops). A restart after a crash reads again what was delivered since the last write.
    #[serde(default = "default_checkpoint_interval_ms")]
    pub checkpoint_interval_ms: u64,
    /// How long a following source keeps a renamed or deleted file open once it has read it to
    /// its end and nothing more is appended to it, in milliseconds: a writer may still finish a
    /// line into it after the rotation.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
}

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

fn default_poll_ms() -> u64 {
    250
}

fn default_checkpoint_interval_ms() -> u64 {
    1000
}

fn default_rotate_wait_ms() -> u64 {
    5000
}

fn yes() -> bool {
    true
}

impl Component for FileSourceConfig {
    const TYPE: &'static str = "file";
    const ROLE: Role = Role::Source;
    const DESCRIPTION: &'static str = "Reads NDJSON lines from files (a path or a glob), following rotation, with checkpoints that resume after a restart; a malformed line is an error naming file and line.";
    const EXAMPLE: &'static str =
        "path = \"logs/*.ndjson\"\nexclude = [\"logs/*.old.ndjson\"]\nfollow = true\nread_from = \"beginning\"\ncheckpoint_interval_ms = 1000";
}

#[async_trait]
impl BlockConfig for FileSourceConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in [("poll_interval_ms", self.poll_interval_ms), ("checkpoint_interval_ms", self.checkpoint_interval_ms)] {
            if value == 0 {
                problems.push(format!("`{name}` must be at least 1"));
            }
        }
        if self.max_line_bytes == 0 {
            problems.push("`max_line_bytes` must be at least 1".into());
        }
        if !self.checkpoints && self.checkpoint_path.is_some() {
            problems.push("`checkpoint_path` is set but `checkpoints = false`: remove one".into());
        }
        if let Err(problem) = Patterns::new(std::path::Path::new(""), &self.path, &self.exclude) {
            problems.push(problem);
        }
        problems
    }

    fn resources(&self) -> Vec<Resource> {
        // Two sources writing one checkpoint file would undo each other's checkpoints.
        self.checkpoint_path.iter().map(|path| Resource::path("checkpoint file", path)).collect()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let patterns = Patterns::new(&cx.base_dir, &self.path, &self.exclude).map_err(BuildError::Invalid)?;
        let store = self.store(cx);
        let (follow, read_from) = (self.follow, self.read_from);
        let node = cx.name.clone();
        let scanned = patterns.clone();
        let (known, report) = tokio::task::spawn_blocking(move || {
            let known = store.as_ref().map(|store| load(store, &node)).transpose()?.unwrap_or_default();
            Ok::<_, BuildError>((known, scan(&scanned, &[])))
        })
        .await
        .map_err(|e| BuildError::Other(Box::new(e)))??;
        let found = check(&patterns, report, follow, &cx.name)?;
        let Placement { known, opened, unreadable } =
            tokio::task::spawn_blocking(move || place_all(found, known, read_from)).await.map_err(|e| BuildError::Other(Box::new(e)))?;
        if let Some(unreadable) = unreadable.into_iter().next() {
            return Err(BuildError::Invalid(unreadable.to_string()));
        }
        let settings = Settings {
            follow,
            poll: Duration::from_millis(self.poll_interval_ms),
            max_line_bytes: self.max_line_bytes,
            checkpoint_every: Duration::from_millis(self.checkpoint_interval_ms),
            rotate_wait: Duration::from_millis(self.rotate_wait_ms),
        };
        Ok(BuiltBlock::task(FileSource { settings, patterns, store: self.store(cx), known, opened }))
    }
}

impl FileSourceConfig {
    /// The checkpoint file, if the source keeps checkpoints and has a place for them.
    fn store(&self, cx: &BuildContext) -> Option<CheckpointStore> {
        if !self.checkpoints {
            return None;
        }
        let path = match &self.checkpoint_path {
            Some(path) => cx.resolve(path),
            None => cx.state_dir.as_ref()?.join(format!("{}.checkpoints.json", cx.name)),
        };
        Some(CheckpointStore::new(path))
    }
}

/// The checkpoints by file identity. A corrupt file is set aside and reading starts per
/// `read_from`; one that cannot be read, or a folder that cannot be made, is an error.
fn load(store: &CheckpointStore, node: &str) -> Result<Checkpoints, BuildError> {
    store.prepare().map_err(|e| BuildError::Invalid(e.to_string()))?;
    let checkpoints = match store.load() {
        Ok(checkpoints) => checkpoints,
        Err(error @ CheckpointError::Corrupt { .. }) => {
            match store.set_aside() {
                Ok(aside) => {
                    tracing::warn!(node, %error, aside = %aside.display(), "checkpoints ignored and set aside; files are read per `read_from`")
                }
                Err(cannot) => tracing::warn!(node, %error, %cannot, "checkpoints ignored (and cannot be set aside); files are read per `read_from`"),
            }
            Vec::new()
        }
        Err(error) => return Err(BuildError::Invalid(error.to_string())),
    };
    tracing::debug!(node, path = %store.path().display(), files = checkpoints.len(), "checkpoints loaded");
    Ok(checkpoints.into_iter().map(|c| (c.id(), c)).collect())
}

/// The files found, or why there are none to read.
fn check(patterns: &Patterns, report: Report, follow: bool, node: &str) -> Result<Vec<super::scan::Found>, BuildError> {
    if let Some(directory) = report.directories.first() {
        return Err(BuildError::Invalid(format!("cannot read {}: it is a directory, not a file", directory.display())));
    }
    for (path, problem) in &report.problems {
        if !follow && patterns.is_literal() {
            return Err(BuildError::Invalid(format!("cannot open {}: {problem}", path.display())));
        }
        tracing::warn!(node, path = %path.display(), %problem, "cannot read a file or folder `path` matches; it is left out");
    }
    if report.found.is_empty() {
        let what =
            if patterns.is_literal() { format!("{} does not exist", patterns.include()) } else { format!("no file matches {}", patterns.include()) };
        if !follow {
            return Err(BuildError::Invalid(format!("{what} (and the source does not follow, so it would have nothing to read)")));
        }
        tracing::warn!(node, "{what} yet; the source reads files as they appear");
    }
    Ok(report.found)
}

/// Checkpoints by the identity of the file they are about.
pub(super) type Checkpoints = HashMap<FileId, Checkpoint>;

/// A file found that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub(super) struct Unreadable {
    pub(super) path: PathBuf,
    #[source]
    pub(super) source: std::io::Error,
}

/// Files found, placed where reading starts.
#[derive(Debug)]
pub(super) struct Placement {
    /// The checkpoints left: those of files not found (yet).
    pub(super) known: Checkpoints,
    pub(super) opened: Vec<Opened>,
    pub(super) unreadable: Vec<Unreadable>,
}

/// Places every file found where reading starts: at its checkpoint in `known`, if it has one,
/// otherwise per `start`. Blocking.
pub(super) fn place_all(found: Vec<super::scan::Found>, mut known: Checkpoints, start: ReadFrom) -> Placement {
    let mut opened = Vec::with_capacity(found.len());
    let mut unreadable = Vec::new();
    for found in found {
        let checkpoint = known.remove(&found.id);
        let path = found.path.clone();
        match place(found, checkpoint.as_ref(), start) {
            Ok(placed) => opened.push(placed),
            Err(source) => unreadable.push(Unreadable { path, source }),
        }
    }
    Placement { known, opened, unreadable }
}
