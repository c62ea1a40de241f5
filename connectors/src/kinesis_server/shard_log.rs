//! A shard's append-only log: a folder of segment files named after their first record. The
//! writer half appends frames to the newest segment and starts a new one past `segment_bytes`;
//! readers see what [`Published`] says is written (only whole group commits). Opening cuts a torn
//! tail off the newest segment; retention deletes whole old segments.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use super::segment::{self, FrameReader, StoredRecord};

/// A segment as readers see it.
#[derive(Clone, Debug)]
pub(crate) struct SegmentInfo {
    /// Its first record.
    pub(crate) first: u64,
    /// Its file.
    pub(crate) path: PathBuf,
    /// Its last record's arrival (its file's modification time for a sealed segment at open).
    pub(crate) last_arrival_ms: i64,
}

/// What readers may read of a shard.
#[derive(Clone, Debug, Default)]
pub(crate) struct Published {
    /// Its segments, oldest first.
    pub(crate) segments: Vec<SegmentInfo>,
    /// The counter the next record will get: records below it are written.
    pub(crate) next: u64,
    /// The newest record's arrival.
    pub(crate) last_arrival_ms: Option<i64>,
}

impl Published {
    /// The oldest record not trimmed.
    pub(crate) fn first(&self) -> u64 {
        self.segments.first().map_or(self.next, |s| s.first)
    }
}

/// A position in the log that saves a scan: the segment and byte where record `counter` starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hint {
    /// The segment's first record.
    pub(crate) segment: u64,
    /// The byte in it.
    pub(crate) offset: u64,
    /// The record that starts there.
    pub(crate) counter: u64,
}

/// Records read, and where reading goes on.
#[derive(Debug, Default)]
pub(crate) struct ReadBatch {
    /// In counter order.
    pub(crate) records: Vec<StoredRecord>,
    /// The next record to read.
    pub(crate) next: u64,
    /// Where it starts, when known.
    pub(crate) hint: Option<Hint>,
}

/// The writer half: the newest segment, open for appending.
#[derive(Debug)]
pub(crate) struct ShardWriter {
    dir: PathBuf,
    file: File,
    first: u64,
    size: u64,
    next: u64,
    segment_bytes: u64,
    /// Written since the last fsync.
    pub(crate) dirty: bool,
}

/// A shard's log: the writer and what readers see.
#[derive(Debug)]
pub(crate) struct ShardLog {
    /// The writer half, used by the stream's writer only.
    pub(crate) writer: Mutex<ShardWriter>,
    /// What is written.
    pub(crate) published: Mutex<Published>,
}

impl ShardLog {
    /// Opens (or creates) the log in `dir`, cutting a torn tail off its newest segment.
    ///
    /// # Errors
    /// When the folder or a segment cannot be read, created or truncated.
    pub(crate) fn open(dir: &Path, segment_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut firsts: Vec<(u64, PathBuf)> =
            std::fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).filter_map(|p| segment::first_of(&p).map(|f| (f, p))).collect();
        firsts.sort();
        let mut segments: Vec<SegmentInfo> = firsts
            .iter()
            .map(|(first, path)| SegmentInfo { first: *first, path: path.clone(), last_arrival_ms: modified_ms(path).unwrap_or(0) })
            .collect();
        let (first, path) = match firsts.last() {
            Some((first, path)) => (*first, path.clone()),
            None => {
                let path = dir.join(segment::file_name(0));
                segments.push(SegmentInfo { first: 0, path: path.clone(), last_arrival_ms: 0 });
                (0, path)
            }
        };
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let (count, end, last_arrival) = segment::scan(&path, first)?;
        if file.metadata()?.len() > end {
            tracing::warn!(segment = %path.display(), at = end, "cutting a torn tail off a shard log");
            file.set_len(end)?;
            file.sync_all()?;
        }
        sync_dir(dir)?;
        let next = first + count;
        if let (Some(last), Some(arrival)) = (segments.last_mut(), last_arrival) {
            last.last_arrival_ms = arrival;
        }
        let last_arrival_ms = last_arrival.or_else(|| (segments.len() > 1).then(|| segments[segments.len() - 2].last_arrival_ms));
        let writer = ShardWriter { dir: dir.to_owned(), file, first, size: end, next, segment_bytes, dirty: false };
        Ok(Self { writer: Mutex::new(writer), published: Mutex::new(Published { segments, next, last_arrival_ms }) })
    }

    /// A copy of what readers may read.
    pub(crate) fn snapshot(&self) -> Published {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Up to `max_records` records (and about `max_bytes`) from record `from` on (or the oldest
    /// kept, if `from` was trimmed), starting at `hint` when it points at `from`.
    ///
    /// # Errors
    /// When a segment cannot be read.
    pub(crate) fn read(&self, from: u64, max_records: usize, max_bytes: usize, hint: Option<Hint>) -> io::Result<ReadBatch> {
        let published = self.snapshot();
        let from = from.max(published.first());
        if from >= published.next || max_records == 0 {
            return Ok(ReadBatch { records: Vec::new(), next: from, hint: hint.filter(|h| h.counter == from) });
        }
        let mut index = published.segments.iter().rposition(|s| s.first <= from).unwrap_or(0);
        let mut batch = ReadBatch { records: Vec::new(), next: from, hint: None };
        let mut bytes = 0;
        let mut offset =
            hint.filter(|h| h.counter == from && published.segments.get(index).is_some_and(|s| s.first == h.segment)).map_or(0, |h| h.offset);
        while let Some(info) = published.segments.get(index) {
            let mut reader = match FrameReader::open(&info.path, offset) {
                Ok(reader) => reader,
                // Trimmed since the snapshot: read on from the next segment.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    index += 1;
                    offset = 0;
                    continue;
                }
                Err(e) => return Err(e),
            };
            while let Some(record) = reader.next_record()? {
                if record.counter >= published.next {
                    return Ok(batch);
                }
                if record.counter < batch.next {
                    continue;
                }
                bytes += record.data.len() + record.partition_key.len();
                batch.next = record.counter + 1;
                batch.hint = Some(Hint { segment: info.first, offset: reader.offset, counter: batch.next });
                batch.records.push(record);
                if batch.records.len() >= max_records || bytes >= max_bytes || batch.next >= published.next {
                    return Ok(batch);
                }
            }
            index += 1;
            offset = 0;
        }
        Ok(batch)
    }

    /// The first record that arrived at or after `at_ms` (the next record to come when none did).
    ///
    /// # Errors
    /// When a segment cannot be read.
    pub(crate) fn find_time(&self, at_ms: i64) -> io::Result<u64> {
        let published = self.snapshot();
        // Segments whose newest record is older cannot hold it.
        let start = published.segments.iter().position(|s| s.last_arrival_ms >= at_ms).unwrap_or(published.segments.len().saturating_sub(1));
        let mut from = published.segments.get(start).map_or(published.next, |s| s.first).max(published.first());
        loop {
            let batch = self.read(from, 4096, usize::MAX, None)?;
            if let Some(found) = batch.records.iter().find(|r| r.arrival_ms >= at_ms) {
                return Ok(found.counter);
            }
            if batch.records.is_empty() {
                return Ok(batch.next);
            }
            from = batch.next;
        }
    }

    /// Deletes the sealed segments whose newest record arrived before `before_ms`.
    ///
    /// # Errors
    /// When a segment cannot be deleted.
    pub(crate) fn trim(&self, before_ms: i64) -> io::Result<usize> {
        let doomed: Vec<SegmentInfo> = {
            let Ok(mut published) = self.published.lock() else { return Ok(0) };
            let sealed = published.segments.len().saturating_sub(1);
            let count = published.segments[..sealed].iter().take_while(|s| s.last_arrival_ms < before_ms).count();
            published.segments.drain(..count).collect()
        };
        for segment in &doomed {
            match std::fs::remove_file(&segment.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(doomed.len())
    }
}

impl ShardWriter {
    /// The counter the next appended record gets.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Frames a record into `buffer` (written by [`ShardWriter::write`]) and gives its counter.
    pub(crate) fn append(&mut self, buffer: &mut Vec<u8>, arrival_ms: i64, partition_key: &str, data: &[u8]) -> u64 {
        let counter = self.next;
        segment::encode(buffer, counter, arrival_ms, partition_key, data);
        self.next += 1;
        counter
    }

    /// Writes the frames of `buffer`, which start at record `first`, starting a new segment first
    /// if the current one is full. Returns the new segment if one was started. On failure, the
    /// segment is cut back to where it was and the counter too.
    ///
    /// # Errors
    /// When writing fails.
    pub(crate) fn write(&mut self, buffer: &[u8], first: u64) -> io::Result<Option<SegmentInfo>> {
        let mut started = None;
        if self.size >= self.segment_bytes && self.size > 0 {
            self.file.sync_data()?;
            let path = self.dir.join(segment::file_name(first));
            self.file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
            sync_dir(&self.dir)?;
            self.first = first;
            self.size = 0;
            started = Some(SegmentInfo { first, path, last_arrival_ms: 0 });
        }
        if let Err(error) = self.file.write_all(buffer) {
            let _ = self.file.set_len(self.size);
            self.next = first;
            return Err(error);
        }
        self.size += buffer.len() as u64;
        self.dirty = true;
        Ok(started)
    }

    /// Flushes what was written to the disk.
    ///
    /// # Errors
    /// When `fsync` fails.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Makes a file's creation or deletion in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn modified_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(log: &ShardLog, records: &[(&str, &[u8], i64)]) {
        let mut writer = log.writer.lock().expect("writer");
        let first = writer.next();
        let mut buffer = Vec::new();
        for (key, data, at) in records {
            writer.append(&mut buffer, *at, key, data);
        }
        let started = writer.write(&buffer, first).expect("written");
        writer.sync().expect("synced");
        let mut published = log.published.lock().expect("published");
        published.segments.extend(started);
        published.next = writer.next();
        if let Some(last) = published.segments.last_mut() {
            last.last_arrival_ms = records.last().map_or(0, |r| r.2);
        }
    }

    #[test]
    fn records_survive_reopening_across_segments_and_reads_resume_from_hints() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let log = ShardLog::open(dir.path(), 100).expect("opened");
        for i in 0..10_i64 {
            put(&log, &[("k", format!("record {i}").as_bytes(), 1000 + i)]);
        }
        drop(log);
        let log = ShardLog::open(dir.path(), 100).expect("reopened");
        let published = log.snapshot();
        assert_eq!(published.next, 10);
        assert!(published.segments.len() > 2, "{published:?}");
        let first = log.read(0, 4, usize::MAX, None).expect("read");
        assert_eq!(first.records.iter().map(|r| r.counter).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let rest = log.read(first.next, 100, usize::MAX, first.hint).expect("read");
        assert_eq!(rest.records.iter().map(|r| r.counter).collect::<Vec<_>>(), (4..10).collect::<Vec<_>>());
        assert_eq!(rest.records[5].data, b"record 9");
        assert_eq!(log.find_time(1004).expect("found"), 4);
        assert_eq!(log.find_time(5000).expect("found"), 10);
    }

    #[test]
    fn a_torn_tail_is_cut_at_open_and_the_counter_goes_on_from_the_last_good_record() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let log = ShardLog::open(dir.path(), 1 << 20).expect("opened");
        put(&log, &[("k", b"kept", 1), ("k", b"kept too", 2)]);
        drop(log);
        let path = dir.path().join(segment::file_name(0));
        let mut file = OpenOptions::new().append(true).open(&path).expect("opened");
        file.write_all(&[40, 0, 0, 0, 1, 2, 3]).expect("torn frame");
        let log = ShardLog::open(dir.path(), 1 << 20).expect("reopened");
        assert_eq!(log.snapshot().next, 2);
        put(&log, &[("k", b"after", 3)]);
        let all = log.read(0, 10, usize::MAX, None).expect("read");
        assert_eq!(all.records.iter().map(|r| r.data.as_slice()).collect::<Vec<_>>(), [&b"kept"[..], b"kept too", b"after"]);
    }

    #[test]
    fn retention_deletes_whole_sealed_segments_only() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let log = ShardLog::open(dir.path(), 10).expect("opened");
        for i in 0..3_i64 {
            put(&log, &[("k", b"0123456789", 1000 * i)]);
        }
        assert_eq!(log.trim(1500).expect("trimmed"), 2);
        assert_eq!(log.trim(i64::MAX).expect("trimmed"), 0, "the newest segment stays");
        let left = log.read(0, 10, usize::MAX, None).expect("read");
        assert_eq!(left.records.iter().map(|r| r.counter).collect::<Vec<_>>(), [2]);
    }
}
