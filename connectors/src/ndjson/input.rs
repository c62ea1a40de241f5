//! What a [`LineReader`](super::LineReader) reads from: any `AsyncRead` (standard input, a
//! socket), or a file read on a blocking thread straight into the buffer its lines are cut from.
//!
//! tokio's `File` reads on a blocking thread too, but into a buffer of its own, and copies every
//! byte out of it when polled. [`FileInput`] reads into a new buffer that already starts with the
//! bytes still waiting for their newline, and hands the whole buffer over: only that partial
//! line is copied, once per read.

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

/// A byte input that appends to a buffer.
pub(crate) trait Input: Send {
    /// Appends about `chunk` of the input's next bytes to `buf`; returns how many, 0 at the end
    /// of the input.
    ///
    /// Cancel-safe: when the future is dropped before it completes, the read goes on, and the
    /// next call returns its bytes, provided it is given `buf` unchanged.
    fn fill(&mut self, buf: &mut BytesMut, chunk: usize) -> impl Future<Output = io::Result<usize>> + Send;
}

impl<R: AsyncRead + Unpin + Send> Input for R {
    async fn fill(&mut self, buf: &mut BytesMut, chunk: usize) -> io::Result<usize> {
        buf.reserve(chunk);
        self.read_buf(buf).await
    }
}

/// A file read from its current position on, on tokio's blocking threads.
#[derive(Debug)]
pub(crate) struct FileInput {
    file: Arc<File>,
    /// The read under way, if the call that started it was dropped: the buffer it fills, and
    /// how many bytes it added.
    reading: Option<JoinHandle<(Vec<u8>, io::Result<usize>)>>,
}

impl FileInput {
    pub(crate) fn new(file: File) -> Self {
        Self { file: Arc::new(file), reading: None }
    }

    /// Moves back to the start of the file. A read under way is waited for and its bytes
    /// dropped, so that it cannot move the position after this.
    ///
    /// # Errors
    /// When the file cannot be positioned.
    pub(crate) async fn rewind(&mut self) -> io::Result<()> {
        if let Some(reading) = self.reading.take() {
            let _ = reading.await;
        }
        io::Seek::rewind(&mut &*self.file)
    }
}

impl Input for FileInput {
    async fn fill(&mut self, buf: &mut BytesMut, chunk: usize) -> io::Result<usize> {
        let reading = match &mut self.reading {
            Some(reading) => reading,
            None => {
                let mut bytes = Vec::with_capacity(buf.len() + chunk);
                bytes.extend_from_slice(buf);
                let file = Arc::clone(&self.file);
                self.reading.insert(tokio::task::spawn_blocking(move || {
                    let read = read_once(&file, &mut bytes);
                    (bytes, read)
                }))
            }
        };
        let done = reading.await;
        self.reading = None;
        let (bytes, read) = done.map_err(io::Error::other)?;
        let read = read?;
        // A whole buffer, not shared: it becomes a `BytesMut` without a copy.
        *buf = BytesMut::from(Bytes::from(bytes));
        Ok(read)
    }
}

/// Reads once from `file` into `bytes`' spare room; returns how many bytes it appended.
#[cfg(unix)]
fn read_once(file: &File, bytes: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match rustix::io::read(file, rustix::buffer::spare_capacity(bytes)) {
            Err(rustix::io::Errno::INTR) => {}
            read => return read.map_err(io::Error::from),
        }
    }
}

/// Reads from `file` into `bytes`' spare room; returns how many bytes it appended.
#[cfg(not(unix))]
fn read_once(file: &File, bytes: &mut Vec<u8>) -> io::Result<usize> {
    let room = (bytes.capacity() - bytes.len()) as u64;
    io::Read::read_to_end(&mut io::Read::take(file, room), bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    /// A file holding `text`, read from its start.
    fn file_input(text: &[u8]) -> FileInput {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(text).expect("writes");
        io::Seek::rewind(&mut file).expect("rewinds");
        FileInput::new(file)
    }

    #[tokio::test]
    async fn a_file_is_read_after_the_bytes_already_buffered() {
        let mut input = file_input(b"second\nthird");
        let mut buf = BytesMut::from(&b"first "[..]);
        assert_eq!(input.fill(&mut buf, 4).await.expect("reads"), 4);
        assert_eq!(&buf[..], b"first seco");
        assert_eq!(input.fill(&mut buf, 64).await.expect("reads"), 8);
        assert_eq!(&buf[..], b"first second\nthird");
        assert_eq!(input.fill(&mut buf, 64).await.expect("reads"), 0, "the end of the file");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_read_cut_short_is_returned_by_the_next_call() {
        // A pipe's read waits for its writer: the first call is surely cut short.
        let (reader, mut writer) = io::pipe().expect("pipe");
        let mut input = FileInput::new(File::from(std::os::fd::OwnedFd::from(reader)));
        let mut buf = BytesMut::from(&b">"[..]);
        let cut = tokio::time::timeout(Duration::from_millis(1), input.fill(&mut buf, 64)).await;
        assert!(cut.is_err(), "nothing to read yet");
        assert_eq!(&buf[..], b">", "nothing is added before the read completes");
        writer.write_all(b"abc").expect("writes");
        drop(writer);
        assert_eq!(input.fill(&mut buf, 64).await.expect("reads"), 3);
        assert_eq!(&buf[..], b">abc", "the bytes of the read cut short, once");
        assert_eq!(input.fill(&mut buf, 64).await.expect("reads"), 0, "the writer is gone");
    }

    #[tokio::test]
    async fn rewinding_drops_a_read_under_way_and_starts_over() {
        let mut input = file_input(b"abc");
        let mut buf = BytesMut::new();
        // Cut short, or done if the blocking thread was quick: either way it is behind us.
        let _ = tokio::time::timeout(Duration::ZERO, input.fill(&mut buf, 2)).await;
        input.rewind().await.expect("rewinds");
        buf.clear();
        assert_eq!(input.fill(&mut buf, 64).await.expect("reads"), 3);
        assert_eq!(&buf[..], b"abc");
    }
}
