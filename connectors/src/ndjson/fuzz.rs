//! Fuzz target: the NDJSON decoder (see the `runnel-fuzz` crate). Any bytes, read in reads of
//! any sizes, come out as one record per line that is not blank, numbered and in order: the
//! line's JSON value, or an error naming the line (one over `max_line_bytes` says so). The
//! records do not depend on how the input was split into reads, and values written back out
//! read back the same.

use proptest::prelude::*;
use runnel_engine::{AckTracker, Acks, Message};
use serde_json::Value;

use super::{BOM, LineDecoder, LineReader, OVERSIZED_PREFIX, Position};

/// Cases per property. Each reads its input twice, in pieces and whole.
const CASES: u32 = 2000;

/// The stream's name in error messages.
const STREAM: &str = "in.ndjson";

/// What one line became.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    /// A message: its line number and value.
    Message(u64, Value),
    /// An error record: its line number, the value kept of the line, and the error message.
    Failure(u64, Value, String),
}

/// How the input is read.
#[derive(Debug, Clone)]
struct Reading {
    /// The sizes of the reads, repeated until the input is read.
    chunks: Vec<usize>,
    /// `max_line_bytes`.
    max_line: usize,
    /// How many lines one `next_lines` hands out at most.
    max_lines: usize,
}

impl Reading {
    fn whole(&self) -> Self {
        Self { chunks: vec![usize::MAX], ..self.clone() }
    }
}

fn reading() -> impl Strategy<Value = Reading> {
    let chunks = prop_oneof![prop::collection::vec(1..64_usize, 1..4), prop::collection::vec(1..4096_usize, 1..3)];
    let max_line = prop::sample::select(&[1, 2, 3, 4, 8, 16, 100, 255, 256, 257, 1000, super::DEFAULT_MAX_LINE_BYTES][..]);
    let max_lines = prop_oneof![1..5_usize, Just(1000)];
    (chunks, max_line, max_lines).prop_map(|(chunks, max_line, max_lines)| Reading { chunks, max_line, max_lines })
}

/// Every record of `input` read as `reading` says, in line order, and where the reader stopped.
fn decode_all(input: &[u8], reading: &Reading) -> (Vec<Record>, Position) {
    let mut pieces = Vec::new();
    let mut rest = input;
    for &size in reading.chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        pieces.push(Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(piece)));
        rest = after;
    }
    let stream = tokio_util::io::StreamReader::new(futures::stream::iter(pieces));
    let mut reader = LineReader::new(stream).max_line_bytes(reading.max_line);
    let decoder = LineDecoder::new("in".into(), STREAM.into(), AckTracker::new(None, None));
    let mut records = Vec::new();
    futures::executor::block_on(async {
        loop {
            let lines = reader.next_lines(reading.max_lines).await.expect("reads from memory");
            if lines.is_empty() {
                break;
            }
            let (batch, failures) = decoder.decode(lines);
            records.extend(batch.into_iter().map(|message| Record::Message(line_of(&message), message.into_value())));
            records.extend(failures.into_iter().map(|(message, error)| Record::Failure(line_of(&message), message.into_value(), error)));
        }
    });
    records.sort_by_key(|record| match record {
        Record::Message(line, _) | Record::Failure(line, ..) => *line,
    });
    (records, reader.position())
}

fn line_of(message: &Message) -> u64 {
    message.meta().origin.offset.unwrap_or(0)
}

/// The records `input` should give, line by line.
fn expected(input: &[u8], max_line: usize) -> (Vec<Record>, Position) {
    let text = input.strip_prefix(BOM).unwrap_or(input);
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    let records = (1..)
        .zip(&lines)
        .filter(|(_, line)| line.len() > max_line || !line.iter().all(u8::is_ascii_whitespace))
        .map(|(number, line)| {
            let json = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > max_line {
                let kept = &line[..line.len().min(OVERSIZED_PREFIX)];
                let message = format!("{STREAM}:{number}: the line is {} bytes, longer than `max_line_bytes`; its first bytes are kept", line.len());
                return Record::Failure(number, Value::String(String::from_utf8_lossy(kept).into_owned()), message);
            }
            match std::str::from_utf8(json) {
                // A literal beyond a float's range is the largest float (`crate::numbers`, tested
                // on its own), as in jq; serde_json alone refuses it.
                Ok(text) => match serde_json::from_str(text)
                    .or_else(|error| crate::numbers::clamped(text).and_then(|c| serde_json::from_str(&c).ok()).ok_or(error))
                {
                    Ok(value) => Record::Message(number, value),
                    Err(error) => Record::Failure(number, Value::String(text.to_owned()), format!("{STREAM}:{number}: invalid JSON: {error}")),
                },
                Err(error) => {
                    let raw = crate::codec::decode(json, runnel_engine::Metadata::default()).expect_err("not UTF-8").message.into_value();
                    Record::Failure(number, raw, format!("{STREAM}:{number}: invalid JSON: invalid UTF-8 at byte {}", error.valid_up_to() + 1))
                }
            }
        })
        .collect();
    (records, Position { offset: input.len() as u64, line: lines.len() as u64 })
}

/// The properties, for one input read one way.
fn check(input: &[u8], reading: &Reading) -> Result<(), TestCaseError> {
    let (records, end) = decode_all(input, reading);
    let (whole, whole_end) = decode_all(input, &reading.whole());
    prop_assert_eq!(&records, &whole, "reads of {:?} give other records than one read", reading.chunks);
    prop_assert_eq!(end, whole_end);
    let (expected, expected_end) = expected(input, reading.max_line);
    prop_assert_eq!(&records, &expected);
    prop_assert_eq!(end, expected_end, "every byte and line is accounted for");
    for record in &records {
        if let Record::Message(line, value) = record {
            let mut out = Vec::new();
            let mut acks = Acks::default();
            super::encode(vec![Message::new(value.clone())], &mut out, &mut acks).expect("writes");
            let again: Value = serde_json::from_slice(&out).expect("reads back");
            prop_assert_eq!(&again, value, "line {} does not read back the same once written: {}", line, String::from_utf8_lossy(&out));
        }
    }
    Ok(())
}

/// JSON values with the strings and numbers that are hard to write and read back.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        (-1000_i32..1000, -30_i32..30).prop_map(|(m, e)| serde_json::json!(f64::from(m) * 10f64.powi(e))),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{feff}é𝄞]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,4}", inner, 0..4).prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// One line of a generated input: JSON, blank, junk, or long (padding before JSON).
fn line() -> impl Strategy<Value = Vec<u8>> {
    const BLANKS: &[&[u8]] = &[b"", b" ", b"\t \x0c", b"\r", b"  \r"];
    const PADS: &[&[u8]] = &[b" ", b"x", b"\"", b"["];
    prop_oneof![
        6 => value().prop_map(|value| value.to_string().into_bytes()),
        1 => prop::sample::select(BLANKS).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(prop::sample::select(&b"{}[]\",:01-.e \\\xff\xc3\x00\r"[..]), 0..12),
        1 => (prop::sample::select(PADS), 200..3000_usize, value()).prop_map(|(pad, n, value)| [pad.repeat(n), value.to_string().into_bytes()].concat()),
    ]
}

/// Inputs of generated lines, with any line end and an optional byte-order mark.
fn lines() -> impl Strategy<Value = Vec<u8>> {
    const ENDS: &[&[u8]] = &[b"\n", b"\r\n"];
    let end = prop::sample::select(ENDS);
    (any::<bool>(), prop::collection::vec((line(), end), 0..12), any::<bool>()).prop_map(|(bom, lines, last_end)| {
        let mut input = if bom { BOM.to_vec() } else { Vec::new() };
        let count = lines.len();
        for (i, (line, end)) in lines.into_iter().enumerate() {
            input.extend_from_slice(&line);
            if i + 1 < count || last_end {
                input.extend_from_slice(end);
            }
        }
        input
    })
}

/// Seeds of `fuzz/corpus/ndjson/` mutated, generated lines, and any bytes.
fn input() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[b"{\"a\":1}", b"[]", b"null", b"\"\\", b"\n\n", b"\r\n", b"   "];
    let seeds = runnel_fuzz::corpus("ndjson");
    prop_oneof![
        3 => runnel_fuzz::mutated(&seeds, TOKENS),
        3 => lines(),
        1 => prop::collection::vec(prop::sample::select(&b"\n\r {}\"a1\xEF\xBB\xBF\xff"[..]), 0..64),
    ]
}

proptest! {
    #![proptest_config(runnel_fuzz::config("ndjson", CASES))]

    #[test]
    fn fuzz_every_line_is_a_message_or_an_error_however_it_is_read(input in input(), reading in reading()) {
        check(&input, &reading)?;
    }
}

/// Every seed of `fuzz/corpus/ndjson/`, read in several ways.
#[test]
fn fuzz_corpus_lines_are_messages_or_errors() {
    for seed in runnel_fuzz::corpus("ndjson") {
        for chunks in [vec![1], vec![7, 3], vec![300], vec![usize::MAX]] {
            for max_line in [3, 100, 256, 1000, super::DEFAULT_MAX_LINE_BYTES] {
                let reading = Reading { chunks: chunks.clone(), max_line, max_lines: 3 };
                if let Err(error) = check(&seed.bytes, &reading) {
                    panic!("{} read as {reading:?}: {error}", seed.name);
                }
            }
        }
    }
}
