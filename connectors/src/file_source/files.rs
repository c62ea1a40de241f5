//! Every file the source reads, and what it does with each read, scan and acknowledgement: the
//! batches it tracks, files truncated, rotated, found and closed, and the checkpoints written.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use runnel_engine::{Ack, AckStatus, AckTracker, BlockError, LogLimiter};

use super::Settings;
use super::checkpoint::{Checkpoint, CheckpointStore};
use super::config::{Checkpoints, place_all};
use super::scan::{Patterns, Seen, scan};
use super::watched::{Opened, Placed, ReadFrom, Watched};
use crate::ndjson::{Decoded, LineDecoder, Lines};
use crate::progress::Moved;

/// Lines read from a file, to parse.
#[derive(Debug)]
pub(super) struct Job {
    decoder: Arc<LineDecoder>,
    lines: Lines,
    /// The batch id its acknowledgement comes back with, when checkpoints are kept.
    batch: Option<u64>,
}

impl Job {
    pub(super) fn parse(self) -> Decoded {
        match self.batch {
            Some(id) => self.decoder.decode_batch(self.lines, id),
            None => self.decoder.decode(self.lines),
        }
    }
}

/// The files being read.
#[derive(Debug)]
pub(super) struct Files {
    node: Arc<str>,
    settings: Settings,
    patterns: Patterns,
    store: Option<CheckpointStore>,
    /// Checkpoints of files not found yet.
    known: Checkpoints,
    files: HashMap<u64, Watched>,
    /// Files that may have lines to read, the next one first.
    queue: VecDeque<u64>,
    /// `None` once reading has stopped, so that the acknowledgement channel can close.
    tracker: Option<AckTracker>,
    decoders: HashMap<u64, Arc<LineDecoder>>,
    /// The file of each batch in flight.
    owners: HashMap<u64, u64>,
    next_key: u64,
    next_batch: u64,
    /// The checkpoints last written.
    saved: Vec<Checkpoint>,
    save_errors: LogLimiter,
    /// Paths already warned about, so that a scan every poll does not repeat itself.
    warned: HashSet<PathBuf>,
}

impl Files {
    pub(super) fn new(
        node: Arc<str>,
        settings: Settings,
        patterns: Patterns,
        store: Option<CheckpointStore>,
        known: Checkpoints,
        tracker: AckTracker,
    ) -> Self {
        Self {
            node,
            settings,
            patterns,
            store,
            known,
            files: HashMap::new(),
            queue: VecDeque::new(),
            tracker: Some(tracker),
            decoders: HashMap::new(),
            owners: HashMap::new(),
            next_key: 0,
            next_batch: 0,
            saved: Vec::new(),
            save_errors: LogLimiter::default(),
            warned: HashSet::new(),
        }
    }

    /// Starts reading a file.
    ///
    /// # Errors
    /// When a second handle on it cannot be made.
    pub(super) fn add(&mut self, opened: Opened) -> io::Result<()> {
        let Some(tracker) = &self.tracker else { return Ok(()) };
        let (node, path, at) = (&*self.node, opened.path.display().to_string(), opened.at);
        match opened.placed {
            Placed::Resumed => tracing::info!(node, path, line = at.line, offset = at.offset, "resuming a file at its checkpoint"),
            Placed::New => tracing::info!(node, path, offset = at.offset, "reading a file"),
            Placed::Truncated => {
                tracing::warn!(node, path, "the file is shorter than its checkpoint (truncated while runnel was stopped): reading it from its start")
            }
            Placed::Replaced => tracing::info!(
                node,
                path,
                offset = at.offset,
                "a new file has the inode of a checkpointed one (its first bytes differ): reading it as new"
            ),
        }
        let key = self.next_key;
        self.next_key += 1;
        self.decoders.insert(key, Arc::new(LineDecoder::new(self.node.clone(), path.into(), tracker.clone())));
        self.files.insert(key, Watched::new(key, opened, self.settings.follow, self.settings.max_line_bytes)?);
        self.queue.push_back(key);
        Ok(())
    }

    /// Whether some file may have lines to read now.
    pub(super) fn has_lines_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Reads the next lines of the file whose turn it is. Cancel-safe.
    pub(super) async fn read_next(&mut self, max: usize) -> Option<(u64, io::Result<Lines>)> {
        let key = *self.queue.front()?;
        let Some(file) = self.files.get_mut(&key) else {
            // Closed: its turn is gone with it.
            self.queue.pop_front();
            return None;
        };
        Some((key, file.next_lines(max).await))
    }

    /// What to parse of lines read from file `key`; nothing at the end of the file, which then
    /// waits for the next poll (or, once rotated away and finished, is closed).
    ///
    /// # Errors
    /// When the file could not be read.
    pub(super) fn take(&mut self, key: u64, read: io::Result<Lines>) -> Result<Option<Job>, BlockError> {
        let Some(file) = self.files.get_mut(&key) else { return Ok(None) };
        let lines = read.map_err(|e| BlockError::other(format!("cannot read {}: {e}", file.path.display())))?;
        self.queue.pop_front();
        if lines.is_empty() {
            file.queued = false;
            if file.closing {
                self.close(key);
            }
            return Ok(None);
        }
        // Its turn is over: the other files with lines to read go first.
        self.queue.push_back(key);
        file.last_read = Instant::now();
        let batch = self.store.is_some().then(|| {
            let id = self.next_batch;
            self.next_batch += 1;
            file.progress.sent(id, lines.end());
            self.owners.insert(id, key);
            id
        });
        Ok(Some(Job { decoder: Arc::clone(&self.decoders[&key]), lines, batch }))
    }

    /// Records what became of a batch.
    pub(super) fn ack(&mut self, ack: Ack) {
        let Some(key) = self.owners.remove(&ack.id) else { return };
        let Some(file) = self.files.get_mut(&key) else { return };
        let Moved::Stalled(status) = file.progress.acked(ack.id, ack.status) else { return };
        let line = file.progress.finished().map_or(0, |at| at.line) + 1;
        if self.tracker.is_none() && status == AckStatus::Abandoned {
            // Read but not sent when the source stopped: read again after a restart, as expected.
            tracing::debug!(node = %self.node, path = %file.path.display(), line, "lines read at shutdown were not sent");
        } else {
            tracing::warn!(
                node = %self.node, path = %file.path.display(), line, %status,
                "lines failed downstream: the file's checkpoint stays before them, so a restart reads them again"
            );
        }
    }

    /// Looks for new, truncated, grown and rotated files, and closes rotated ones that are done.
    ///
    /// # Errors
    /// When a truncated file cannot be read again from its start.
    pub(super) async fn poll(&mut self) -> Result<(), BlockError> {
        let known: Vec<_> = self.files.values().map(Watched::known).collect();
        let patterns = self.patterns.clone();
        let report = tokio::task::spawn_blocking(move || scan(&patterns, &known)).await.map_err(BlockError::other)?;
        for (path, problem) in report.problems.into_iter().chain(report.directories.into_iter().map(|d| (d, "a directory".into()))) {
            if self.warned.insert(path.clone()) {
                tracing::warn!(node = %self.node, path = %path.display(), %problem, "cannot read a file or folder `path` matches; it is left out");
            }
        }
        for (key, seen) in report.open {
            self.update(key, seen).await?;
        }
        if !report.found.is_empty() {
            let known = std::mem::take(&mut self.known);
            // Files that appear while the source runs are new: read from their start.
            let placement =
                tokio::task::spawn_blocking(move || place_all(report.found, known, ReadFrom::Beginning)).await.map_err(BlockError::other)?;
            self.known = placement.known;
            for opened in placement.opened {
                self.add(opened).map_err(BlockError::other)?;
            }
            for unreadable in placement.unreadable {
                if self.warned.insert(unreadable.path.clone()) {
                    tracing::warn!(node = %self.node, error = %unreadable, "a new file is left out");
                }
            }
        }
        Ok(())
    }

    /// Applies what a scan saw of file `key`.
    async fn update(&mut self, key: u64, seen: Seen) -> Result<(), BlockError> {
        let Settings { follow, max_line_bytes, rotate_wait, .. } = self.settings;
        let Some(file) = self.files.get_mut(&key) else { return Ok(()) };
        let node = &*self.node;
        if seen.truncated {
            tracing::info!(node, path = %file.path.display(), "the file was truncated: reading it again from its start");
            let fingerprint = seen.fingerprint.unwrap_or(file.fingerprint);
            file.restart(fingerprint, follow, max_line_bytes)
                .await
                .map_err(|e| BlockError::other(format!("cannot read {} again: {e}", file.path.display())))?;
        } else if let Some(fingerprint) = seen.fingerprint {
            file.fingerprint = fingerprint;
        }
        match seen.path {
            Some(path) => {
                file.path = path;
                file.gone = None;
            }
            None if file.gone.is_none() => {
                tracing::info!(node, path = %file.path.display(), "the file was renamed away or deleted: reading it to its end");
                file.gone = Some(Instant::now());
            }
            None => {}
        }
        let grew = seen.size > file.known().read;
        if file.queued {
            return Ok(());
        }
        if grew || seen.truncated {
            file.resume();
        } else if file.gone.is_some_and(|gone| gone.max(file.last_read).elapsed() >= rotate_wait) {
            if !file.has_partial_line() {
                self.close(key);
                return Ok(());
            }
            // Its unterminated last line will not be finished: read it as it is, then close.
            file.finish();
        } else {
            return Ok(());
        }
        file.queued = true;
        self.queue.push_back(key);
        Ok(())
    }

    /// Stops reading file `key`; its checkpoint is no longer written.
    fn close(&mut self, key: u64) {
        self.queue.retain(|k| *k != key);
        self.decoders.remove(&key);
        if let Some(file) = self.files.remove(&key) {
            tracing::info!(node = %self.node, path = %file.path.display(), "closed a file renamed away or deleted, read to its end");
        }
    }

    /// No more reading: lets go of the acknowledgement tracker, so that its channel closes once
    /// every message read is finished.
    pub(super) fn stop_reading(&mut self) {
        self.tracker = None;
        self.decoders.clear();
        self.queue.clear();
    }

    /// Writes the checkpoints if they moved.
    pub(super) async fn save(&mut self) {
        let Some(store) = &self.store else { return };
        let mut checkpoints: Vec<Checkpoint> = self.files.values().map(Watched::checkpoint).collect();
        checkpoints.sort_by(|a, b| a.path.cmp(&b.path));
        if checkpoints == self.saved {
            return;
        }
        let (store, written) = (store.clone(), checkpoints.clone());
        match tokio::task::spawn_blocking(move || store.save(written)).await {
            Ok(Ok(())) => self.saved = checkpoints,
            Ok(Err(error)) => {
                if let Some(suppressed) = self.save_errors.check(1) {
                    tracing::warn!(node = %self.node, %error, suppressed, "cannot write the checkpoints; a restart would read again what was delivered since the last ones");
                }
            }
            Err(error) => tracing::error!(node = %self.node, %error, "writing the checkpoints panicked"),
        }
    }
}
