//! The hand-written single-threaded programs the engine is measured against: buffered reads,
//! serde_json parse, the same logic written directly, serde_json write, buffered writes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Scenario;

const BUFFER: usize = 256 * 1024;

pub(crate) fn run(scenario: Scenario, input: &Path, output: &Path) -> std::io::Result<Duration> {
    let start = Instant::now();
    let reader = BufReader::with_capacity(BUFFER, File::open(input)?);
    let mut writer = BufWriter::with_capacity(BUFFER, File::create(output)?);
    let mut windows: BTreeMap<(i64, String), u64> = BTreeMap::new();
    let mut watermark = i64::MIN;
    for line in reader.lines() {
        let line = line?;
        let mut value: Value = serde_json::from_str(&line)?;
        if scenario == Scenario::Pass {
            write_line(&mut writer, &value)?;
            continue;
        }
        if value["kind"] != "chat" {
            continue;
        }
        let len = value["text"].as_str().map_or(0, |t| t.chars().count());
        value["len"] = json!(len);
        if scenario == Scenario::FilterMap {
            write_line(&mut writer, &value)?;
            continue;
        }
        let ts = value["ts"].as_i64().unwrap_or(0);
        let start = ts.div_euclid(10_000) * 10_000;
        let room = value["room"].as_str().unwrap_or_default().to_owned();
        *windows.entry((start + 10_000, room)).or_insert(0) += 1;
        watermark = watermark.max(ts);
        while let Some(entry) = windows.first_entry() {
            if entry.key().0 > watermark {
                break;
            }
            let ((end, room), count) = entry.remove_entry();
            write_line(&mut writer, &window(end, room, count))?;
        }
    }
    for ((end, room), count) in windows {
        write_line(&mut writer, &window(end, room, count))?;
    }
    writer.flush()?;
    Ok(start.elapsed())
}

fn window(end: i64, room: String, count: u64) -> Value {
    json!({"window": {"start": end - 10_000, "end": end}, "key": room, "count": count})
}

fn write_line(writer: &mut impl Write, value: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *writer, value)?;
    writer.write_all(b"\n")
}
