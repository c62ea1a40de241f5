//! Synthetic chat events for the benchmarks: ~180 bytes of JSON each, 80% `"kind":"chat"`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

const WORDS: &[&str] = &[
    "hello", "everyone", "see", "you", "at", "the", "gate", "noon", "lunch", "is", "ready", "coffee", "deploy", "tonight", "meeting", "moved",
    "thanks", "great", "work", "weekend", "plans", "anyone",
];

/// Writes `count` events to `path`; returns the number of bytes written.
pub(crate) fn write_chat_events(path: &Path, count: usize) -> std::io::Result<u64> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut bytes = 0;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for id in 0..count {
        let kind = match next() % 10 {
            0 => "join",
            1 => "leave",
            _ => "chat",
        };
        let mut text = String::new();
        for i in 0..(12 + next() % 6) {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
        }
        let line = format!(
            "{{\"id\":{id},\"kind\":\"{kind}\",\"room\":\"room-{}\",\"user\":\"user-{}\",\"text\":\"{text}\",\"ts\":{}}}\n",
            next() % 16,
            next() % 500,
            1_763_798_400_000_u64 + id as u64 * 10
        );
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
    }
    out.flush()?;
    Ok(bytes)
}
