//! The hand-written single-threaded program the engine is measured against: buffered reads,
//! serde_json parse, serde_json write, buffered writes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) fn run(input: &Path, output: &Path) -> std::io::Result<Duration> {
    let start = Instant::now();
    let reader = BufReader::with_capacity(64 * 1024, File::open(input)?);
    let mut writer = BufWriter::with_capacity(64 * 1024, File::create(output)?);
    for line in reader.lines() {
        let line = line?;
        let value: serde_json::Value = serde_json::from_str(&line)?;
        serde_json::to_writer(&mut writer, &value)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    Ok(start.elapsed())
}
