//! Which file is which: its device and inode while it exists, and a fingerprint of its first
//! bytes, so that a new file that reuses the inode of a deleted one is not taken for it (Vector's
//! `fingerprint.strategy = "checksum"`, on top of the inode as in Fluent Bit's `tail`).

use std::fs::File;
use std::io;

use serde::{Deserialize, Serialize};

/// How many of a file's first bytes its fingerprint covers, at most: about ten log lines, enough
/// that two different files of the same program differ there (their first timestamps do).
pub(crate) const FINGERPRINT_BYTES: u64 = 1024;

/// A file's device and inode: the same for as long as the file exists, whatever its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) inode: u64,
}

impl FileId {
    /// The identity of the file `meta` describes. Outside Unix there is none to read (both are
    /// 0), and the fingerprint alone tells files apart.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Self { dev: meta.dev(), inode: meta.ino() }
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Self { dev: 0, inode: 0 }
        }
    }
}

/// A checksum of a file's first bytes (up to [`FINGERPRINT_BYTES`]; fewer while the file is
/// shorter, and then taken again as it grows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fingerprint {
    /// How many of the first bytes it covers.
    pub(crate) bytes: u64,
    /// Their 64-bit FNV-1a hash, in hexadecimal (a JSON number would lose bits in many readers).
    #[serde(with = "hex")]
    pub(crate) fnv1a: u64,
}

impl Fingerprint {
    /// The fingerprint of `prefix`.
    pub(crate) fn of(prefix: &[u8]) -> Self {
        Self { bytes: prefix.len() as u64, fnv1a: fnv1a(prefix) }
    }

    /// The fingerprint of `file`, `size` bytes long.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub(crate) fn read(file: &File, size: u64) -> io::Result<Self> {
        Ok(Self::of(&read_prefix(file, size.min(FINGERPRINT_BYTES))?))
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken of.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub(crate) fn matches(&self, file: &File) -> io::Result<bool> {
        let prefix = read_prefix(file, self.bytes)?;
        Ok(prefix.len() as u64 == self.bytes && fnv1a(&prefix) == self.fnv1a)
    }

    /// Whether it covers fewer bytes than it could of a file `size` bytes long.
    pub(crate) fn can_grow(&self, size: u64) -> bool {
        self.bytes < size.min(FINGERPRINT_BYTES)
    }
}

/// The 64-bit FNV-1a hash: a few lines, no dependency, and the same in every version of runnel
/// (the standard library's hasher may change between Rust releases, so it cannot be stored).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Up to `len` bytes from the start of `file`, read without moving its position (the file's
/// reader goes on where it was).
fn read_prefix(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
    let mut filled = 0;
    while filled < buf.len() {
        let read = read_at(file, &mut buf[filled..], filled as u64)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

/// Outside Unix a positioned read moves the handle's position; the file source's checkpoints
/// are made for Unix, where it does not.
#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// The hash as 16 hexadecimal digits.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:016x}"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}
