//! A file being read: where it starts ([`place`]), its reader and checkpoint, and what a scan
//! says about it (truncated, grown, renamed away).

use std::fs::File;
use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;

use super::checkpoint::Checkpoint;
use super::identity::{FileId, Fingerprint};
use super::scan::{Found, Known};
use crate::ndjson::{FileInput, LineReader, Lines, Position};
use crate::progress::Progress;

/// How much of a file's end is searched for its last complete line, with `read_from = "end"`.
const TAIL_SEARCHED: u64 = 64 * 1024;

/// Where to start reading a file there is no checkpoint for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Its first line.
    #[default]
    Beginning,
    /// Just after its last complete line: only lines written from now on are read.
    End,
}

/// How the place to start a file was chosen, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placed {
    /// At its checkpoint.
    Resumed,
    /// Per `read_from` (or at its start, found after the source started): no checkpoint.
    New,
    /// At its start: its checkpoint is past its end, so it was truncated while runnel was away.
    Truncated,
    /// Per `read_from`: a checkpoint has its inode, but its first bytes differ: a new file.
    Replaced,
}

/// A file found, opened, and placed where to start reading it.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) path: PathBuf,
    /// Positioned at `at`.
    pub(crate) file: File,
    pub(crate) id: FileId,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) at: Position,
    pub(crate) placed: Placed,
}

/// Where to start reading `found`: at `checkpoint` if it is about this very file, otherwise at
/// `start`. Blocking: it reads the file's first bytes (and with [`ReadFrom::End`], its last).
///
/// # Errors
/// When the file cannot be read or positioned.
pub(crate) fn place(found: Found, checkpoint: Option<&Checkpoint>, start: ReadFrom) -> io::Result<Opened> {
    let Found { path, mut file, id, size } = found;
    let fingerprint = Fingerprint::read(&file, size)?;
    let from_start = |placed| (Position::default(), placed);
    let (at, placed) = match checkpoint {
        Some(checkpoint) if !checkpoint.fingerprint.matches(&file)? => (start_at(&mut file, size, start)?, Placed::Replaced),
        Some(checkpoint) if checkpoint.offset > size => from_start(Placed::Truncated),
        Some(checkpoint) => (checkpoint.position(), Placed::Resumed),
        None => (start_at(&mut file, size, start)?, Placed::New),
    };
    io::Seek::seek(&mut file, SeekFrom::Start(at.offset))?;
    Ok(Opened { path, file, id, fingerprint, at, placed })
}

/// The start of `file` or the end of its last complete line (lines before it are not counted).
fn start_at(file: &mut File, size: u64, start: ReadFrom) -> io::Result<Position> {
    if start == ReadFrom::Beginning || size == 0 {
        return Ok(Position::default());
    }
    let from = size.saturating_sub(TAIL_SEARCHED);
    io::Seek::seek(file, SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(&mut *file, size - from), &mut tail)?;
    // A last line without its newline may still be being written: start at its beginning.
    let offset = memchr::memrchr(b'\n', &tail).map_or(size, |at| from + at as u64 + 1);
    Ok(Position { offset, line: 0 })
}

/// A file being read.
#[derive(Debug)]
pub(crate) struct Watched {
    pub(crate) key: u64,
    /// Where it was found last.
    pub(crate) path: PathBuf,
    pub(crate) id: FileId,
    pub(crate) fingerprint: Fingerprint,
    /// A second handle, for its length and first bytes without disturbing the reader.
    handle: Arc<File>,
    /// `None` only while it starts over.
    reader: Option<LineReader<FileInput>>,
    pub(crate) progress: Progress<Position>,
    /// Whether it may have lines to read: it is in the read queue.
    pub(crate) queued: bool,
    /// Since when no path the patterns match leads to it (renamed away, or deleted).
    pub(crate) gone: Option<Instant>,
    /// When lines were last read from it.
    pub(crate) last_read: Instant,
    /// Its last lines are being read before it is closed.
    pub(crate) closing: bool,
}

impl Watched {
    /// Reads `opened`; `follow` waits for the newline of a last line.
    ///
    /// # Errors
    /// When the second handle cannot be made.
    pub(crate) fn new(key: u64, opened: Opened, follow: bool, max_line_bytes: usize) -> io::Result<Self> {
        let Opened { path, file, id, fingerprint, at, .. } = opened;
        let handle = Arc::new(file.try_clone()?);
        let reader = LineReader::new(FileInput::new(file)).max_line_bytes(max_line_bytes).starting_at(at);
        let reader = if follow { reader.following() } else { reader };
        let now = Instant::now();
        Ok(Self {
            key,
            path,
            id,
            fingerprint,
            handle,
            reader: Some(reader),
            progress: Progress::new(Some(at)),
            queued: true,
            gone: None,
            last_read: now,
            closing: false,
        })
    }

    /// The next lines, up to `max`; none at the end of the file for now.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub(crate) async fn next_lines(&mut self, max: usize) -> io::Result<Lines> {
        let reader = self.reader.as_mut().ok_or_else(|| io::Error::other("the file is starting over"))?;
        reader.next_lines(max).await
    }

    /// After the end of the file, looks for more.
    pub(crate) fn resume(&mut self) {
        if let Some(reader) = &mut self.reader {
            reader.resume();
        }
    }

    /// Reads what is left, an unterminated last line included, before the file is closed.
    pub(crate) fn finish(&mut self) {
        self.closing = true;
        if let Some(reader) = &mut self.reader {
            reader.finish();
        }
    }

    /// Whether read bytes wait for the rest of their line.
    pub(crate) fn has_partial_line(&self) -> bool {
        self.reader.as_ref().is_some_and(|r| r.read_offset() > r.position().offset)
    }

    /// Reads the file again from its start (it was truncated): what is in flight no longer
    /// counts, and line numbers start over.
    ///
    /// # Errors
    /// When the file cannot be positioned; it cannot be read on then.
    pub(crate) async fn restart(&mut self, fingerprint: Fingerprint, follow: bool, max_line_bytes: usize) -> io::Result<()> {
        let reader = self.reader.take().ok_or_else(|| io::Error::other("the file is starting over"))?;
        let mut file = reader.into_inner();
        file.rewind().await?;
        let reader = LineReader::new(file).max_line_bytes(max_line_bytes);
        self.reader = Some(if follow { reader.following() } else { reader });
        self.fingerprint = fingerprint;
        self.progress = Progress::new(Some(Position::default()));
        Ok(())
    }

    /// What a scan needs to know of it.
    pub(crate) fn known(&self) -> Known {
        let read = self.reader.as_ref().map_or(0, LineReader::read_offset);
        Known { key: self.key, id: self.id, handle: Arc::clone(&self.handle), fingerprint: self.fingerprint, read }
    }

    /// Its checkpoint as written.
    pub(crate) fn checkpoint(&self) -> Checkpoint {
        let at = self.progress.finished().copied().unwrap_or_default();
        Checkpoint {
            path: self.path.clone(),
            dev: self.id.dev,
            inode: self.id.inode,
            fingerprint: self.fingerprint,
            offset: at.offset,
            line: at.line,
        }
    }
}
