//! One segment file of a shard log: records framed as `length (u32 LE) | CRC32 of the payload
//! (u32 LE) | payload`, the payload being `counter (u64 LE) | arrival ms (i64 LE) | partition key
//! length (u16 LE) | partition key | data`. A frame that is cut short or whose checksum does not
//! match ends the segment: that is where a crash tore the tail, and opening the log cuts it off.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes before a frame's payload.
pub(crate) const HEADER_BYTES: usize = 8;
/// Bytes of a payload before its partition key.
const FIXED_BYTES: usize = 18;
/// The largest payload a frame may claim: a record's data (at most 1 MiB) and partition key
/// (at most 256 characters), with room to spare; a larger length is damage.
const MAX_PAYLOAD: usize = 2 << 20;

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredRecord {
    /// Its place in the shard, from 0.
    pub(crate) counter: u64,
    /// When the shard took it, ms since the epoch.
    pub(crate) arrival_ms: i64,
    /// Its partition key.
    pub(crate) partition_key: String,
    /// Its bytes.
    pub(crate) data: Vec<u8>,
}

/// Appends the frame of a record to `buffer`.
pub(crate) fn encode(buffer: &mut Vec<u8>, counter: u64, arrival_ms: i64, partition_key: &str, data: &[u8]) {
    let key = partition_key.as_bytes();
    let key_len = u16::try_from(key.len()).unwrap_or(u16::MAX);
    let key = &key[..usize::from(key_len)];
    let length = FIXED_BYTES + key.len() + data.len();
    let start = buffer.len();
    buffer.reserve(HEADER_BYTES + length);
    buffer.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_le_bytes());
    buffer.extend_from_slice(&[0; 4]);
    buffer.extend_from_slice(&counter.to_le_bytes());
    buffer.extend_from_slice(&arrival_ms.to_le_bytes());
    buffer.extend_from_slice(&key_len.to_le_bytes());
    buffer.extend_from_slice(key);
    buffer.extend_from_slice(data);
    let crc = crc32fast::hash(&buffer[start + HEADER_BYTES..]);
    buffer[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The name of the segment whose first record is `first`.
pub(crate) fn file_name(first: u64) -> String {
    format!("{first:020}.log")
}

/// The first record of the segment file `path`, if it is one.
pub(crate) fn first_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".log")?.parse().ok()
}

/// Reads frames one after another from a segment file.
#[derive(Debug)]
pub(crate) struct FrameReader {
    reader: BufReader<File>,
    /// Bytes from the start of the file to the next frame.
    pub(crate) offset: u64,
    payload: Vec<u8>,
}

impl FrameReader {
    /// Reads `path` from byte `offset` (the start of a frame).
    pub(crate) fn open(path: &PathBuf, offset: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok(Self { reader: BufReader::with_capacity(256 << 10, file), offset, payload: Vec::new() })
    }

    /// The next whole, undamaged record; `None` at the end or at a torn or damaged frame.
    pub(crate) fn next_record(&mut self) -> io::Result<Option<StoredRecord>> {
        let mut header = [0u8; HEADER_BYTES];
        if !read_all(&mut self.reader, &mut header)? {
            return Ok(None);
        }
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if !(FIXED_BYTES..=MAX_PAYLOAD).contains(&length) {
            return Ok(None);
        }
        self.payload.resize(length, 0);
        if !read_all(&mut self.reader, &mut self.payload)? || crc32fast::hash(&self.payload) != crc {
            return Ok(None);
        }
        let p = &self.payload;
        let counter = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
        let arrival_ms = i64::from_le_bytes(p[8..16].try_into().unwrap_or_default());
        let key_len = usize::from(u16::from_le_bytes([p[16], p[17]]));
        let Some(key) = p.get(FIXED_BYTES..FIXED_BYTES + key_len) else { return Ok(None) };
        let Ok(partition_key) = std::str::from_utf8(key) else { return Ok(None) };
        let record = StoredRecord { counter, arrival_ms, partition_key: partition_key.to_owned(), data: p[FIXED_BYTES + key_len..].to_vec() };
        self.offset += (HEADER_BYTES + length) as u64;
        Ok(Some(record))
    }
}

/// Fills `buffer`; false at the end of the file, even part-way (a torn frame).
fn read_all(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Where a segment's good frames end: the records in it, the byte after the last good frame, and
/// the last record's arrival. Frames must carry consecutive counters from `first`.
pub(crate) fn scan(path: &PathBuf, first: u64) -> io::Result<(u64, u64, Option<i64>)> {
    let mut reader = FrameReader::open(path, 0)?;
    let (mut next, mut last_arrival, mut end) = (first, None, 0);
    while let Some(record) = reader.next_record()? {
        if record.counter != next {
            break;
        }
        end = reader.offset;
        next += 1;
        last_arrival = Some(record.arrival_ms);
    }
    Ok((next - first, end, last_arrival))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn frames_read_back_and_a_torn_or_damaged_tail_ends_the_segment() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(file_name(5));
        let mut bytes = Vec::new();
        encode(&mut bytes, 5, 1000, "key", b"one");
        encode(&mut bytes, 6, 1001, "k\u{e9}y", b"");
        let good = bytes.len() as u64;
        encode(&mut bytes, 7, 1002, "key", b"torn");
        bytes.truncate(bytes.len() - 2);
        File::create(&path).and_then(|mut f| f.write_all(&bytes)).expect("written");
        assert_eq!(first_of(&path), Some(5));
        assert_eq!(scan(&path, 5).expect("scanned"), (2, good, Some(1001)));
        let mut reader = FrameReader::open(&path, 0).expect("opened");
        let first = reader.next_record().expect("read").expect("a record");
        assert_eq!((first.counter, first.partition_key.as_str(), first.data.as_slice()), (5, "key", &b"one"[..]));

        // A flipped bit in the second frame's data: the segment ends after the first.
        let mut damaged = bytes.clone();
        let at = good as usize - 1;
        damaged[at] ^= 1;
        File::create(&path).and_then(|mut f| f.write_all(&damaged)).expect("written");
        assert_eq!(scan(&path, 5).expect("scanned").0, 1);
    }
}
