//! Sequence numbers and shard iterators.
//!
//! A sequence number is a 56-digit decimal, as AWS's and kinesalite's are, built from the stream's
//! creation time, the shard's index and the shard's record counter at fixed widths:
//! `49 | created secs (10) | shard (6) | counter (20) | shard (6) | created secs (10) | 02`. Within a
//! shard every number has the same digits around the counter, so comparing them as big integers
//! (or as strings of one length) compares the counters: they strictly increase with every record.
//!
//! A shard iterator is base64url of the position (stream creation ms, shard, counter), the time
//! it was issued and a CRC32, so a made-up or damaged one is told apart ("Invalid ShardIterator.")
//! and one older than 5 minutes expires.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::shard_log::Hint;

/// Digits of every sequence number.
pub(crate) const SEQUENCE_DIGITS: usize = 56;
/// How long an iterator may be used after it was issued.
pub(crate) const ITERATOR_LIFETIME_MS: i64 = 300_000;

/// The sequence number of record `counter` of shard `shard` of a stream created at `created_ms`.
pub(crate) fn sequence_number(created_ms: i64, shard: u32, counter: u64) -> String {
    let secs = created_ms.div_euclid(1000).rem_euclid(10_000_000_000);
    let shard = shard % 1_000_000;
    format!("49{secs:010}{shard:06}{counter:020}{shard:06}{secs:010}02")
}

/// What a sequence number encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The stream's creation time, in seconds (as encoded: modulo 10^10).
    pub(crate) created_secs: i64,
    /// The shard's index.
    pub(crate) shard: u32,
    /// The record counter.
    pub(crate) counter: u64,
}

/// Whether `text` matches the API's pattern for sequence numbers, `0|([1-9]\d{0,128})`.
pub(crate) fn is_sequence_text(text: &str) -> bool {
    match text.as_bytes() {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.len() <= 128 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Reads a sequence number this server made; `None` for any other.
pub(crate) fn decode(text: &str) -> Option<Decoded> {
    if text.len() != SEQUENCE_DIGITS || !text.starts_with("49") || !text.ends_with("02") || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let created_secs: i64 = text[2..12].parse().ok()?;
    let shard: u32 = text[12..18].parse().ok()?;
    let counter: u64 = text[18..38].parse().ok()?;
    (text[38..44] == text[12..18] && text[44..54] == text[2..12]).then_some(Decoded { created_secs, shard, counter })
}

/// Where an iterator points: the next record to read in one shard of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Iterator {
    /// The stream's creation time, telling a stream from a later one of the same name.
    pub(crate) created_ms: i64,
    /// The shard's index.
    pub(crate) shard: u32,
    /// The counter of the next record to read.
    pub(crate) counter: u64,
    /// When it was issued, ms since the epoch.
    pub(crate) issued_ms: i64,
    /// Where the record starts in the log, when known.
    pub(crate) hint: Option<Hint>,
}

/// Why an iterator cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IteratorError {
    /// Not one this server issued.
    Invalid,
    /// Issued at the time given, more than 5 minutes before now.
    Expired(i64),
}

impl Iterator {
    /// The opaque text handed to the client, for stream `stream`.
    pub(crate) fn encode(&self, stream: &str) -> String {
        let mut bytes = Vec::with_capacity(36 + stream.len());
        bytes.extend_from_slice(&self.created_ms.to_be_bytes());
        bytes.extend_from_slice(&self.shard.to_be_bytes());
        bytes.extend_from_slice(&self.counter.to_be_bytes());
        bytes.extend_from_slice(&self.issued_ms.to_be_bytes());
        let (segment, offset) = self.hint.filter(|h| h.counter == self.counter).map_or((u64::MAX, u64::MAX), |h| (h.segment, h.offset));
        bytes.extend_from_slice(&segment.to_be_bytes());
        bytes.extend_from_slice(&offset.to_be_bytes());
        bytes.extend_from_slice(stream.as_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads an iterator's text: the stream it is for and the position, if it is still valid at `now_ms`.
    pub(crate) fn decode(text: &str, now_ms: i64) -> Result<(String, Self), IteratorError> {
        let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(|_| IteratorError::Invalid)?;
        if bytes.len() < 48 {
            return Err(IteratorError::Invalid);
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_be_bytes() != crc {
            return Err(IteratorError::Invalid);
        }
        let i64_at = |at: usize| body.get(at..at + 8).and_then(|b| b.try_into().ok()).map(i64::from_be_bytes);
        let (Some(created_ms), Some(counter), Some(issued_ms)) = (i64_at(0), i64_at(12), i64_at(20)) else { return Err(IteratorError::Invalid) };
        let shard = body.get(8..12).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or(IteratorError::Invalid)?;
        let (Some(segment), Some(offset)) = (i64_at(28), i64_at(36)) else { return Err(IteratorError::Invalid) };
        let stream = std::str::from_utf8(&body[44..]).map_err(|_| IteratorError::Invalid)?.to_owned();
        let counter = counter as u64;
        let hint = (segment != -1).then_some(Hint { segment: segment as u64, offset: offset as u64, counter });
        if now_ms - issued_ms > ITERATOR_LIFETIME_MS {
            return Err(IteratorError::Expired(issued_ms));
        }
        Ok((stream, Self { created_ms, shard, counter, issued_ms, hint }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_strictly_increase_as_big_integers_and_read_back() {
        let numbers: Vec<String> = [0, 1, 9, 10, 99_999, u64::MAX].iter().map(|&c| sequence_number(1_700_000_000_123, 3, c)).collect();
        for pair in numbers.windows(2) {
            assert_eq!(pair[0].len(), SEQUENCE_DIGITS);
            assert!(pair[0].len() == pair[1].len() && pair[0] < pair[1], "{pair:?}");
        }
        assert_eq!(decode(&numbers[3]), Some(Decoded { created_secs: 1_700_000_000, shard: 3, counter: 10 }));
        assert!(is_sequence_text(&numbers[0]) && !is_sequence_text("0123") && !is_sequence_text(""));
        assert_eq!(decode("49590338271490256608559692538361571095921575989136588898"), None, "not one of ours");
    }

    #[test]
    fn iterators_round_trip_expire_and_refuse_garbage() {
        let hint = Some(Hint { segment: 70, offset: 1234, counter: 77 });
        let iterator = Iterator { created_ms: 1_700_000_000_123, shard: 2, counter: 77, issued_ms: 1_000_000, hint };
        let text = iterator.encode("chat");
        assert_eq!(Iterator::decode(&text, 1_000_000 + ITERATOR_LIFETIME_MS), Ok(("chat".to_owned(), iterator)));
        assert_eq!(Iterator::decode(&text, 1_000_001 + ITERATOR_LIFETIME_MS), Err(IteratorError::Expired(1_000_000)));
        assert_eq!(Iterator::decode("garbage", 0), Err(IteratorError::Invalid));
        let mut damaged = text.into_bytes();
        damaged[10] = if damaged[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(Iterator::decode(&String::from_utf8(damaged).expect("ascii"), 1_000_000), Err(IteratorError::Invalid));
    }
}
