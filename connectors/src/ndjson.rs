//! Newline-delimited JSON shared by the line-based sources and sinks: reading whole lines into
//! batches of messages (with the file and line of every malformed one), and writing batches.
//! What the lines are read from, an `AsyncRead` or a file read on blocking threads, is in
//! `input`.

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use runnel_engine::{AckTracker, Acks, Batch, BlockError, Message, Metadata, Origin, Output, RunContext, Stream, Tokens};

use crate::codec::Undecodable;

mod input;

pub(crate) use input::{FileInput, Input};

/// Bytes read from the input per system call.
const READ_CHUNK: usize = 256 * 1024;

/// The longest line the line-based sources read by default, in bytes (`max_line_bytes`).
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 4 << 20;

/// How much of a line over the limit is kept for its error record, whatever the limit: a line
/// is only cut short while it is read once it is longer than both.
const OVERSIZED_PREFIX: usize = 256;

/// The UTF-8 byte-order mark, skipped at the start of the input.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits a byte stream into numbered lines, a buffer at a time. A line longer than the limit
/// is not buffered whole: its first bytes are kept and the rest skipped up to its newline, and
/// it comes out with its length, for an error record.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    buf: BytesMut,
    line: u64,
    eof: bool,
    /// When following a growing file, a last line without a newline may still be being written.
    wait_for_newline: bool,
    /// How far the buffer is known to hold no newline: each byte is searched once, however long
    /// the line.
    scanned: usize,
    max_line: usize,
    /// While a line over the limit is skipped: its full length so far.
    skipping: Option<u64>,
    /// Lines over the limit not yet handed out: their numbers and lengths.
    oversized: Vec<(u64, u64)>,
    /// Whether the start of the input (and a byte-order mark there) is behind.
    started: bool,
    /// The input offset just after the last line handed out: where to resume reading.
    taken: u64,
    /// Bytes of the buffer's first line (one over the limit) dropped and not yet in `taken`.
    dropped: u64,
    /// A read was started and its future dropped before it completed: the buffer is not to
    /// change until it has.
    filling: bool,
    /// Bytes searched for newlines so far, for the test that reading stays linear.
    #[cfg(test)]
    searched: usize,
}

impl<R: Input> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            buf: BytesMut::with_capacity(READ_CHUNK),
            line: 0,
            eof: false,
            wait_for_newline: false,
            scanned: 0,
            max_line: DEFAULT_MAX_LINE_BYTES,
            skipping: None,
            oversized: Vec::new(),
            started: false,
            taken: 0,
            dropped: 0,
            filling: false,
            #[cfg(test)]
            searched: 0,
        }
    }

    /// Lines longer than `max` bytes are cut short and reported instead of buffered whole.
    pub(crate) fn max_line_bytes(mut self, max: usize) -> Self {
        self.max_line = max.max(1);
        self
    }

    /// Keeps an unterminated last line buffered at end of input, for files still being written.
    pub(crate) fn following(mut self) -> Self {
        self.wait_for_newline = true;
        self
    }

    /// The input starts at `offset` of a file, after `line` lines: positions and line numbers
    /// count from there, and a byte-order mark is only looked for at offset 0.
    pub(crate) fn starting_at(mut self, position: Position) -> Self {
        self.taken = position.offset;
        self.line = position.line;
        self.started = position.offset > 0;
        self
    }

    /// Where the lines handed out so far end: the place to resume reading from.
    pub(crate) fn position(&self) -> Position {
        Position { offset: self.taken, line: self.line }
    }

    /// How far the input has been read, lines handed out or not.
    pub(crate) fn read_offset(&self) -> u64 {
        self.taken + self.dropped + self.buf.len() as u64
    }

    /// Stops waiting for a newline at the end of the input: the input will not grow any more,
    /// so an unterminated last line is handed out as it is.
    pub(crate) fn finish(&mut self) {
        self.wait_for_newline = false;
        self.eof = false;
    }

    /// The input, for a caller that goes on reading it another way.
    pub(crate) fn into_inner(self) -> R {
        self.reader
    }

    /// Reads at least once, then returns every complete line buffered (up to `max`). At end of
    /// input the last line need not end with a newline. Returns no lines at end of input.
    ///
    /// Cancel-safe: a read cut short is completed first, before lines are taken out of the buffer.
    pub(crate) async fn next_lines(&mut self, max: usize) -> std::io::Result<Lines> {
        if self.filling {
            self.fill().await?;
        }
        loop {
            // No line is handed out before the input's first bytes tell whether they are a mark.
            if self.started || self.skip_mark() {
                self.skip_oversized();
                let lines = self.take_lines(max);
                if !lines.is_empty() {
                    return Ok(lines);
                }
                if self.eof {
                    return Ok(if self.wait_for_newline { lines } else { self.take_rest() });
                }
            }
            self.fill().await?;
        }
    }

    /// Reads the input's next bytes into the buffer.
    async fn fill(&mut self) -> std::io::Result<()> {
        self.filling = true;
        let read = self.reader.fill(&mut self.buf, READ_CHUNK).await;
        self.filling = false;
        if read? == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// At the start of the input, once enough of it is read: drops a byte-order mark there.
    /// Returns whether the start is behind.
    fn skip_mark(&mut self) -> bool {
        if self.buf.len() < BOM.len() && !self.eof {
            return false;
        }
        self.started = true;
        if self.buf.starts_with(BOM) {
            let _ = self.buf.split_to(BOM.len());
            self.taken += BOM.len() as u64;
            self.scanned = self.scanned.saturating_sub(BOM.len());
        }
        true
    }

    /// Keeps only the first bytes of a line that has grown past the limit without a newline,
    /// and drops the rest of it as it is read, until its newline.
    fn skip_oversized(&mut self) {
        if self.skipping.is_none() && self.buf.len() <= self.max_line.max(OVERSIZED_PREFIX) {
            return;
        }
        let kept = OVERSIZED_PREFIX;
        let newline = self.find_newline(self.scanned);
        match (self.skipping, newline) {
            (None, None) => {
                self.skipping = Some(self.buf.len() as u64);
                self.dropped += (self.buf.len() - kept) as u64;
                self.buf.truncate(kept);
                self.scanned = kept;
            }
            (None, _) => {}
            (Some(length), None) => {
                self.skipping = Some(length + (self.buf.len() - kept) as u64);
                self.dropped += (self.buf.len() - kept) as u64;
                self.buf.truncate(kept);
            }
            (Some(length), Some(at)) => {
                // The line ends here: its kept prefix and its newline stay, the rest goes.
                let rest = self.buf.split_off(at);
                let skipped = self.buf.len() - kept;
                self.dropped += skipped as u64;
                self.buf.truncate(kept);
                self.buf.unsplit(rest);
                self.oversized.push((self.line + 1, length + skipped as u64));
                self.skipping = None;
                self.scanned = 0;
            }
        }
    }

    /// After end of input, lets a following reader look for appended data again.
    pub(crate) fn resume(&mut self) {
        self.eof = false;
    }

    /// Cuts up to `max` complete lines off the buffer, in one piece.
    fn take_lines(&mut self, max: usize) -> Lines {
        if self.skipping.is_some() {
            return Lines::none(self.position());
        }
        let mut ends = Vec::new();
        let mut start = 0;
        while ends.len() < max {
            let Some(at) = self.find_newline(start.max(self.scanned)) else {
                self.scanned = self.buf.len();
                break;
            };
            if at - start > self.max_line {
                // Read whole in one go, but over the limit all the same.
                self.oversized.push((self.line + 1 + ends.len() as u64, (at - start) as u64));
            }
            start = at + 1;
            ends.push(at);
        }
        self.scanned = self.scanned.saturating_sub(start);
        let first = self.line + 1;
        self.line += ends.len() as u64;
        if !ends.is_empty() {
            self.taken += start as u64 + std::mem::take(&mut self.dropped);
        }
        Lines { text: self.buf.split_to(start), ends, first, end: self.taken, oversized: self.take_oversized() }
    }

    fn take_rest(&mut self) -> Lines {
        if let Some(length) = self.skipping.take() {
            let kept = OVERSIZED_PREFIX;
            self.oversized.push((self.line + 1, length + (self.buf.len() - kept) as u64));
            self.dropped += (self.buf.len() - kept) as u64;
            self.buf.truncate(kept);
        } else if self.buf.len() > self.max_line {
            // Short enough to have been kept whole, but over the limit all the same.
            self.oversized.push((self.line + 1, self.buf.len() as u64));
        }
        self.scanned = 0;
        self.taken += self.buf.len() as u64 + std::mem::take(&mut self.dropped);
        if self.buf.is_empty() {
            return Lines::none(self.position());
        }
        self.line += 1;
        let text = self.buf.split();
        Lines { ends: vec![text.len()], text, first: self.line, end: self.taken, oversized: self.take_oversized() }
    }

    /// Where the next newline at or after `from` is in the buffer.
    fn find_newline(&mut self, from: usize) -> Option<usize> {
        #[cfg(test)]
        {
            self.searched += self.buf.len() - from;
        }
        memchr::memchr(b'\n', &self.buf[from..]).map(|at| from + at)
    }

    /// The lines over the limit among those handed out so far.
    fn take_oversized(&mut self) -> Vec<(u64, u64)> {
        if self.oversized.is_empty() {
            return Vec::new();
        }
        let line = self.line;
        let (done, waiting) = self.oversized.drain(..).partition(|&(number, _)| number <= line);
        self.oversized = waiting;
        done
    }
}

/// Numbered lines cut off the input in one piece: one buffer and the offsets of their ends,
/// rather than a buffer handle per line.
#[derive(Debug)]
pub(crate) struct Lines {
    text: BytesMut,
    /// Where each line ends in `text`: at its newline, or at the end of the input.
    ends: Vec<usize>,
    /// The 1-based number of the first line.
    first: u64,
    /// The input offset just after the last line.
    end: u64,
    /// The lines cut short because they were over the limit: their numbers and full lengths.
    oversized: Vec<(u64, u64)>,
}

impl Lines {
    /// No lines, at `position`.
    fn none(position: Position) -> Self {
        Self { text: BytesMut::new(), ends: Vec::new(), first: position.line + 1, end: position.offset, oversized: Vec::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The full length of line `number`, if it was over the limit.
    fn oversized_length(&self, number: u64) -> Option<u64> {
        self.oversized.iter().find(|(at, _)| *at == number).map(|&(_, length)| length)
    }

    /// Whether line `number` is skipped: it is blank, and not over the limit (a line cut short
    /// is reported whatever its first bytes are, so that how it was read does not matter).
    fn skipped(&self, number: u64, line: &[u8]) -> bool {
        blank(line) && self.oversized_length(number).is_none()
    }

    /// Where the input stands after these lines: the offset after the last one, and its number.
    pub(crate) fn end(&self) -> Position {
        Position { offset: self.end, line: self.first + self.ends.len() as u64 - 1 }
    }

    /// Each line, without its newline, with its number.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|end| end + 1));
        (self.first..).zip(starts.zip(&self.ends).map(|(start, &end)| &self.text[start..end]))
    }

    /// Lines from `text`, numbered from `first` (for tests).
    #[cfg(test)]
    fn of(first: u64, text: &[u8]) -> Self {
        let mut ends: Vec<usize> = memchr::memchr_iter(b'\n', text).collect();
        if ends.last().is_none_or(|&end| end + 1 < text.len()) {
            ends.push(text.len());
        }
        Self { text: BytesMut::from(text), ends, first, end: text.len() as u64, oversized: Vec::new() }
    }
}

/// A place in a line-based input: a byte offset, and how many lines end before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    /// Bytes from the start of the input.
    pub(crate) offset: u64,
    /// Lines before `offset`: the next line is number `line + 1`.
    pub(crate) line: u64,
}

/// Turns numbered lines into messages, and malformed lines into failures that name the stream
/// and line. Blank lines are skipped.
#[derive(Debug)]
pub(crate) struct LineDecoder {
    /// The source node and the stream (file name) it reads.
    from: Arc<Stream>,
    /// The stream's name again, for error messages. Reading it from `from` instead made the
    /// whole decoding loop about 10% slower in `benches/throughput` (code layout, not the read).
    stream: Arc<str>,
    tracker: AckTracker,
}

impl LineDecoder {
    pub(crate) fn new(node: Arc<str>, stream: Arc<str>, tracker: AckTracker) -> Self {
        Self { from: Stream::new(node, Some(stream.clone())), stream, tracker }
    }

    /// The messages of `lines`, each acknowledged on its own under its line number.
    pub(crate) fn decode(&self, lines: Lines) -> Decoded {
        // One acknowledgement record for the lines read together.
        let read = lines.iter().filter(|&(number, line)| !lines.skipped(number, line)).map(|(number, _)| number);
        let tokens = self.tracker.tokens_at(read, std::time::Instant::now());
        self.decode_with(lines, tokens)
    }

    /// The messages of `lines`, acknowledged together as batch `id` ([`AckTracker::batch_at`]).
    pub(crate) fn decode_batch(&self, lines: Lines, id: u64) -> Decoded {
        let count = lines.iter().filter(|&(number, line)| !lines.skipped(number, line)).count();
        let tokens = self.tracker.batch_at(id, count, std::time::Instant::now());
        self.decode_with(lines, tokens)
    }

    fn decode_with(&self, lines: Lines, mut tokens: Tokens) -> Decoded {
        let mut batch = Vec::with_capacity(lines.ends.len());
        let mut failures = Vec::new();
        for (number, line) in lines.iter() {
            if lines.skipped(number, line) {
                continue;
            }
            let oversized = lines.oversized_length(number);
            // A line over the limit keeps its first bytes as read: its end (a `\r`) may be gone.
            let line = match oversized {
                Some(_) => &line[..line.len().min(OVERSIZED_PREFIX)],
                None => line.strip_suffix(b"\r").unwrap_or(line),
            };
            let meta =
                Metadata { origin: Origin::at(&self.from, number), size: u32::try_from(line.len()).unwrap_or(u32::MAX), ..Metadata::default() };
            let acks = tokens.next().unwrap_or_default();
            if let Some(length) = oversized {
                let mut message = Message::with_meta(serde_json::Value::String(String::from_utf8_lossy(line).into_owned()), meta);
                message.acks = acks;
                failures.push((
                    message,
                    format!("{}:{number}: the line is {length} bytes, longer than `max_line_bytes`; its first bytes are kept", self.stream),
                ));
                continue;
            }
            match crate::codec::decode(line, meta) {
                Ok(mut message) => {
                    message.acks = acks;
                    batch.push(message);
                }
                Err(error) => {
                    let Undecodable { mut message, reason } = *error;
                    message.acks = acks;
                    failures.push((message, format!("{}:{number}: invalid JSON: {reason}", self.stream)));
                }
            }
        }
        (batch, failures)
    }
}

/// Whether a line holds nothing but whitespace (skipped, not an error).
fn blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Parses batches of lines in input order. Parsing JSON costs far more than splitting lines, so
/// on a runtime with several worker threads the batches are parsed as tasks of their own, up to
/// one per worker at a time, while the reader reads ahead; on one worker they are parsed in place.
#[derive(Debug)]
pub(crate) struct Parser {
    parsing: FuturesOrdered<tokio::task::JoinHandle<Decoded>>,
    parallel: usize,
}

impl Parser {
    pub(crate) fn new() -> Self {
        Self { parsing: FuturesOrdered::new(), parallel: tokio::runtime::Handle::current().metrics().num_workers() }
    }

    /// Whether another batch may start parsing now.
    pub(crate) fn has_room(&self) -> bool {
        self.parsing.len() < self.parallel
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.parsing.is_empty()
    }

    /// Starts `parse`; returns its batch at once when there is one worker only.
    pub(crate) fn start(&mut self, parse: impl FnOnce() -> Decoded + Send + 'static) -> Option<Decoded> {
        if self.parallel > 1 {
            self.parsing.push_back(tokio::spawn(async move { parse() }));
            None
        } else {
            Some(parse())
        }
    }

    /// The next batch parsed, in the order they were started; `None` when none is parsing.
    pub(crate) async fn next(&mut self) -> Option<Result<Decoded, BlockError>> {
        self.parsing.next().await.map(|parsed| parsed.map_err(BlockError::other))
    }
}

/// Reads NDJSON from `lines` until end of input, sending batches downstream in input order
/// (parsed by a [`Parser`]). Stops early when the pipeline shuts down.
pub(crate) async fn read_into<R: Input>(mut lines: LineReader<R>, decoder: LineDecoder, cx: &mut RunContext) -> Result<(), BlockError> {
    let max = cx.batch_size.get();
    let decoder = Arc::new(decoder);
    let mut parser = Parser::new();
    loop {
        tokio::select! {
            biased;
            () = cx.shutdown.cancelled() => return Ok(()),
            Some(parsed) = parser.next(), if !parser.is_empty() => send(&mut cx.output, parsed?).await?,
            read = lines.next_lines(max), if parser.has_room() => {
                let read = read.map_err(|e| BlockError::other(format!("cannot read {}: {e}", decoder.stream)))?;
                if read.is_empty() {
                    while let Some(parsed) = parser.next().await {
                        send(&mut cx.output, parsed?).await?;
                    }
                    return Ok(());
                }
                let decoder = Arc::clone(&decoder);
                if let Some(parsed) = parser.start(move || decoder.decode(read)) {
                    send(&mut cx.output, parsed).await?;
                }
            }
        }
    }
}

/// A parsed batch, and the malformed lines with their errors.
pub(crate) type Decoded = (Batch, Vec<(Message, String)>);

/// Sends a parsed batch downstream, and its malformed lines to the errors port.
pub(crate) async fn send(output: &mut Output, (batch, failures): Decoded) -> Result<(), BlockError> {
    output.send(batch).await?;
    output.fail(failures).await
}

/// Appends `batch` to `out` as NDJSON. Each message is freed as soon as it is written, while it
/// is still in cache; its acknowledgements join `acks`, to be resolved once the bytes are
/// delivered. After an error the rest of the batch is not written, but its acknowledgements
/// still join `acks`.
pub(crate) fn encode(batch: Batch, out: &mut Vec<u8>, acks: &mut Acks) -> Result<(), sonic_rs::Error> {
    let mut written = Ok(());
    for message in batch {
        if written.is_ok() {
            written = crate::codec::encode(&message, out).map(|()| out.push(b'\n'));
        }
        acks.merge(message.acks);
    }
    written
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use tokio::io::AsyncRead;

    use super::*;

    #[tokio::test]
    async fn lines_are_numbered_and_the_last_may_lack_a_newline() {
        let mut reader = LineReader::new(&b"{\"a\":1}\n\n{\"a\":2}"[..]);
        let lines = reader.next_lines(10).await.expect("reads");
        assert_eq!(lines.iter().collect::<Vec<_>>(), vec![(1, &b"{\"a\":1}"[..]), (2, &b""[..])]);
        let rest = reader.next_lines(10).await.expect("reads");
        assert_eq!(rest.iter().collect::<Vec<_>>(), vec![(3, &b"{\"a\":2}"[..])]);
        assert!(reader.next_lines(10).await.expect("reads").is_empty());
    }

    /// Reads every line of `input`, split into reads of `chunk` bytes, with lines limited to
    /// `max` bytes: (number, text, length when cut short).
    async fn read_all(input: &[u8], chunk: usize, max: usize) -> Vec<(u64, String, Option<u64>)> {
        let mut reader = LineReader::new(chunked(input, chunk)).max_line_bytes(max);
        let mut all = Vec::new();
        loop {
            let lines = reader.next_lines(1000).await.expect("reads");
            if lines.is_empty() {
                return all;
            }
            for (number, line) in lines.iter() {
                let cut = lines.oversized.iter().find(|(at, _)| *at == number).map(|(_, length)| *length);
                all.push((number, String::from_utf8_lossy(line).into_owned(), cut));
            }
        }
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_cut_short_and_the_next_lines_still_come() {
        let long = "x".repeat(5000);
        let input = format!("{{\"a\":1}}\n{long}\n{{\"b\":2}}\n{long}");
        for chunk in [1, 7, 300, 100_000] {
            let lines = read_all(input.as_bytes(), chunk, 1000).await;
            assert_eq!(lines.len(), 4, "chunk {chunk}: {lines:?}");
            assert_eq!(lines[0], (1, "{\"a\":1}".to_owned(), None));
            assert_eq!((lines[1].0, lines[1].2), (2, Some(5000)), "chunk {chunk}");
            // Read in pieces, only its first bytes were kept.
            assert!(lines[1].1.len() == OVERSIZED_PREFIX || chunk > 5000, "chunk {chunk}: {}", lines[1].1.len());
            assert_eq!(lines[2], (3, "{\"b\":2}".to_owned(), None));
            assert_eq!((lines[3].0, lines[3].2), (4, Some(5000)), "chunk {chunk}");
        }
    }

    /// A reader of `input` in reads of `chunk` bytes.
    fn chunked(input: &[u8], chunk: usize) -> impl AsyncRead + Unpin + use<> {
        tokio_util::io::StreamReader::new(futures::stream::iter(
            input.chunks(chunk).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
        ))
    }

    #[tokio::test]
    async fn positions_count_every_byte_even_those_of_a_mark_and_of_lines_cut_short() {
        let long = "x".repeat(5000);
        let input = format!("\u{feff}{{\"a\":1}}\n{long}\n\n{{\"b\":2}}\n{long}");
        // Where each line ends: just after its newline, or at the end of the input.
        let mut ends: Vec<u64> = memchr::memchr_iter(b'\n', input.as_bytes()).map(|at| at as u64 + 1).collect();
        ends.push(input.len() as u64);
        for chunk in [1, 7, 300, 100_000] {
            let mut reader = LineReader::new(chunked(input.as_bytes(), chunk)).max_line_bytes(1000);
            loop {
                let lines = reader.next_lines(2).await.expect("reads");
                if lines.is_empty() {
                    break;
                }
                let end = lines.end();
                assert_eq!(end.offset, ends[end.line as usize - 1], "chunk {chunk}, after line {}", end.line);
                assert_eq!(reader.position(), end);
            }
            assert_eq!(reader.position(), Position { offset: input.len() as u64, line: 5 }, "chunk {chunk}");
            assert_eq!(reader.read_offset(), input.len() as u64);
        }
    }

    #[tokio::test]
    async fn a_reader_started_midway_numbers_lines_from_there() {
        let mut reader = LineReader::new(&b"{}\n{}\n"[..]).starting_at(Position { offset: 100, line: 9 }).following();
        let lines = reader.next_lines(10).await.expect("reads");
        assert_eq!(lines.iter().map(|(n, _)| n).collect::<Vec<_>>(), [10, 11]);
        assert_eq!(lines.end(), Position { offset: 106, line: 11 });
    }

    #[tokio::test]
    async fn a_finished_reader_hands_out_an_unterminated_last_line() {
        let mut reader = LineReader::new(&b"{}\n{\"cut\""[..]).following();
        assert_eq!(reader.next_lines(10).await.expect("reads").iter().count(), 1);
        assert!(reader.next_lines(10).await.expect("reads").is_empty(), "waits for the newline");
        reader.finish();
        let rest = reader.next_lines(10).await.expect("reads");
        assert_eq!(rest.iter().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>(), [(2, b"{\"cut\"".to_vec())]);
        assert_eq!(reader.position().offset, 9);
    }

    #[tokio::test]
    async fn a_byte_order_mark_at_the_start_is_skipped() {
        let lines = read_all(b"\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBF{}\n", 2, 1000).await;
        assert_eq!(lines[0].1, "{\"a\":1}");
        assert_eq!(lines[1].1, "\u{feff}{}", "only the input's first bytes are a byte-order mark");
    }

    #[tokio::test]
    async fn a_line_over_the_limit_comes_out_the_same_however_it_is_read() {
        // Under the kept prefix's 256 bytes, over a limit of 3: kept whole either way, and the
        // last line (without a newline) is over the limit too.
        let whole = read_all(b"Infinity\nfalse", 100, 3).await;
        assert_eq!(whole, [(1, "Infinity".to_owned(), Some(8)), (2, "false".to_owned(), Some(5))]);
        assert_eq!(read_all(b"Infinity\nfalse", 1, 3).await, whole);
        // Blank for its first 300 bytes but not after: reported, not skipped as blank.
        let input = format!("{}x\n{{}}\n", " ".repeat(300));
        for chunk in [1, 7, 100_000] {
            let decoder = LineDecoder::new("in".into(), "in.ndjson".into(), AckTracker::new(None, None));
            let mut reader = LineReader::new(chunked(input.as_bytes(), chunk)).max_line_bytes(100);
            let (batch, failures) = decoder.decode(reader.next_lines(1).await.expect("reads"));
            assert!(batch.is_empty() && failures[0].1.starts_with("in.ndjson:1: the line is 301 bytes"), "chunk {chunk}: {failures:?}");
            assert_eq!(failures[0].0.value(), &serde_json::Value::String(" ".repeat(OVERSIZED_PREFIX)), "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn a_byte_order_mark_is_only_skipped_at_the_start_however_the_input_is_read() {
        for chunk in [1, 2, 100] {
            let lines = read_all(b"\n\xEF\xBB\xBF{}\n", chunk, 1000).await;
            assert_eq!(lines[1].1, "\u{feff}{}", "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn a_long_line_is_searched_for_its_newline_once() {
        // 8 MiB in one line, read 64 KiB at a time: searching every read from the line's start
        // would search about 128 × 4 MiB; each byte is searched once (twice at most).
        let mut input = vec![b' '; 8 << 20];
        input.extend_from_slice(b"1\n2\n");
        let reader = tokio_util::io::StreamReader::new(futures::stream::iter(
            input.chunks(64 << 10).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
        ));
        let mut reader = LineReader::new(reader).max_line_bytes(usize::MAX);
        let lines = reader.next_lines(1).await.expect("reads");
        assert_eq!(lines.iter().count(), 1);
        assert_eq!(reader.next_lines(1).await.expect("reads").iter().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>(), [(2, b"2".to_vec())]);
        assert!(reader.searched <= 2 * input.len(), "searched {} bytes for {}", reader.searched, input.len());
    }

    #[test]
    fn oversized_lines_fail_with_their_length() {
        let decoder = LineDecoder::new("in".into(), "events.ndjson".into(), AckTracker::new(None, None));
        let mut lines = Lines::of(7, b"{\"a\":");
        lines.oversized.push((7, 9_000_000));
        let (batch, failures) = decoder.decode(lines);
        assert!(batch.is_empty());
        assert_eq!(failures[0].1, "events.ndjson:7: the line is 9000000 bytes, longer than `max_line_bytes`; its first bytes are kept");
        assert_eq!(failures[0].0.meta().origin.offset, Some(7));
    }

    #[test]
    fn malformed_lines_fail_with_stream_and_line() {
        let decoder = LineDecoder::new("in".into(), "events.ndjson".into(), AckTracker::new(None, None));
        let (batch, failures) = decoder.decode(Lines::of(1, b"{\"ok\":true}\r\n{oops\n  "));
        assert_eq!(batch.len(), 1);
        assert_eq!(failures.len(), 1);
        assert!(failures[0].1.starts_with("events.ndjson:2: invalid JSON"), "{}", failures[0].1);
        assert_eq!(failures[0].0.value(), "{oops");
        assert_eq!(failures[0].0.meta().origin.offset, Some(2));
    }

    #[test]
    fn invalid_utf8_names_the_byte() {
        let decoder = LineDecoder::new("in".into(), "events.ndjson".into(), AckTracker::new(None, None));
        let (batch, failures) = decoder.decode(Lines::of(4, b"{\"a\":\"\xff\"}"));
        assert!(batch.is_empty());
        assert_eq!(failures[0].1, "events.ndjson:4: invalid JSON: invalid UTF-8 at byte 7");
    }
}
