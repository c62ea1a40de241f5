//! Newline-delimited JSON shared by the line-based sources and sinks: reading whole lines into
//! batches of messages (with the file and line of every malformed one), and writing batches.

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use runnel_engine::{AckTracker, Acks, Batch, BlockError, Message, Metadata, Origin, RunContext, Stream};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::codec::Undecodable;

/// Bytes read from the input per system call.
const READ_CHUNK: usize = 256 * 1024;

/// Splits a byte stream into numbered lines, a buffer at a time.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    buf: BytesMut,
    line: u64,
    eof: bool,
    /// When following a growing file, a last line without a newline may still be being written.
    wait_for_newline: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self { reader, buf: BytesMut::with_capacity(READ_CHUNK), line: 0, eof: false, wait_for_newline: false }
    }

    /// Keeps an unterminated last line buffered at end of input, for files still being written.
    pub(crate) fn following(mut self) -> Self {
        self.wait_for_newline = true;
        self
    }

    /// Reads at least once, then returns every complete line buffered (up to `max`). At end of
    /// input the last line need not end with a newline. Returns no lines at end of input.
    ///
    /// Cancel-safe: lines are only taken out of the buffer after the read completed.
    pub(crate) async fn next_lines(&mut self, max: usize) -> std::io::Result<Lines> {
        loop {
            let lines = self.take_lines(max);
            if !lines.is_empty() {
                return Ok(lines);
            }
            if self.eof {
                return Ok(if self.wait_for_newline { lines } else { self.take_rest() });
            }
            self.buf.reserve(READ_CHUNK);
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                self.eof = true;
            }
        }
    }

    /// After end of input, lets a following reader look for appended data again.
    pub(crate) fn resume(&mut self) {
        self.eof = false;
    }

    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// Cuts up to `max` complete lines off the buffer, in one piece.
    fn take_lines(&mut self, max: usize) -> Lines {
        let mut ends = Vec::new();
        let mut start = 0;
        while ends.len() < max {
            let Some(at) = memchr::memchr(b'\n', &self.buf[start..]) else { break };
            start += at + 1;
            ends.push(start - 1);
        }
        let first = self.line + 1;
        self.line += ends.len() as u64;
        Lines { text: self.buf.split_to(start), ends, first }
    }

    fn take_rest(&mut self) -> Lines {
        if self.buf.is_empty() {
            return Lines { text: BytesMut::new(), ends: Vec::new(), first: self.line + 1 };
        }
        self.line += 1;
        let text = self.buf.split();
        Lines { ends: vec![text.len()], text, first: self.line }
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
}

impl Lines {
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
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
        Self { text: BytesMut::from(text), ends, first }
    }
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

    pub(crate) fn decode(&self, lines: Lines) -> Decoded {
        let mut batch = Vec::with_capacity(lines.ends.len());
        let mut failures = Vec::new();
        // One acknowledgement record for the lines read together.
        let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
        let mut tokens = self.tracker.tokens_at(lines.iter().filter(|(_, line)| !blank(line)).map(|(number, _)| number), std::time::Instant::now());
        for (number, line) in lines.iter() {
            if blank(line) {
                continue;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let meta =
                Metadata { origin: Origin::at(&self.from, number), size: u32::try_from(line.len()).unwrap_or(u32::MAX), ..Metadata::default() };
            let acks = tokens.next().unwrap_or_default();
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

/// Reads NDJSON from `lines` until end of input (or, with `follow`, until shutdown), sending
/// batches downstream in input order. Stops early when the pipeline shuts down.
///
/// Parsing JSON costs far more than splitting lines, so on a runtime with several worker threads
/// the batches are parsed as tasks of their own, up to one per worker at a time, while this task
/// reads ahead; the parsed batches are still sent in the order they were read.
pub(crate) async fn read_into<R: AsyncRead + Unpin>(
    mut lines: LineReader<R>,
    decoder: LineDecoder,
    cx: &mut RunContext,
    follow: Option<std::time::Duration>,
) -> Result<(), BlockError> {
    let max = cx.batch_size.get();
    let parallel = tokio::runtime::Handle::current().metrics().num_workers();
    let decoder = Arc::new(decoder);
    let mut parsing: FuturesOrdered<tokio::task::JoinHandle<Decoded>> = FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            () = cx.shutdown.cancelled() => return Ok(()),
            Some(parsed) = parsing.next(), if !parsing.is_empty() => send(cx, parsed.map_err(BlockError::other)?).await?,
            read = lines.next_lines(max), if parsing.len() < parallel => {
                let read = read?;
                if read.is_empty() {
                    while let Some(parsed) = parsing.next().await {
                        send(cx, parsed.map_err(BlockError::other)?).await?;
                    }
                    let Some(poll) = follow else { return Ok(()) };
                    tokio::select! {
                        () = cx.shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(poll) => lines.resume(),
                    }
                    continue;
                }
                if parallel > 1 {
                    let decoder = Arc::clone(&decoder);
                    parsing.push_back(tokio::spawn(async move { decoder.decode(read) }));
                } else {
                    send(cx, decoder.decode(read)).await?;
                }
                if lines.is_eof() && follow.is_some() {
                    lines.resume();
                }
            }
        }
    }
}

/// A parsed batch, and the malformed lines with their errors.
type Decoded = (Batch, Vec<(Message, String)>);

async fn send(cx: &mut RunContext, (batch, failures): Decoded) -> Result<(), BlockError> {
    cx.output.send(batch).await?;
    cx.output.fail(failures).await
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
mod tests {
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
