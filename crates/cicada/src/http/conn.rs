//! One open connection: the stream and its read buffer. A request goes out in one write; the
//! response is read into the buffer and decoded in place ([`super::decode`]). Parked, the
//! connection keeps only the stream (the buffer is freed while the user waits).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use super::decode::{Decoder, Eof, Malformed, Progress};
use super::response::Received;
use super::stream::Stream;

/// Size of a connection's read buffer; it grows only for a response head that does not fit
/// (up to the head limit).
pub const READ_BUF: usize = 8 * 1024;

/// Why reading a response failed.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// The connection closed before any byte of the response.
    ClosedEarly,
    /// The connection closed part-way through the response.
    Truncated,
    Malformed(Malformed),
}

impl ReadError {
    /// Nothing of a response arrived: the server may have closed an idle connection just as
    /// the request went out (a request worth sending again on a fresh connection).
    pub fn nothing_received(&self) -> bool {
        match self {
            ReadError::ClosedEarly => true,
            ReadError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }
}

/// An open connection.
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pub opened: Instant,
}

/// How a complete response left the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The connection can carry the next request: the server keeps it open and sent nothing
    /// after the response.
    pub reusable: bool,
}

impl Conn {
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            opened: Instant::now(),
        }
    }

    pub fn is_parked(&self) -> bool {
        self.buf.is_empty()
    }

    /// Whether the idle connection is still good: nothing arrived unasked, not closed by the
    /// server. Reads without waiting (a would-block read when all is well).
    pub fn idle_and_open(&mut self) -> bool {
        if self.start != self.end {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut cx = Context::from_waker(Waker::noop());
        let mut read = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.stream).poll_read(&mut cx, &mut read),
            Poll::Pending
        )
    }

    /// Keep only the stream, when the connection is idle and open; false (and nothing kept)
    /// otherwise.
    pub fn park(&mut self) -> bool {
        if !self.idle_and_open() {
            return false;
        }
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
        true
    }

    /// Take a parked connection back into use.
    pub fn unpark(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUF];
        }
    }

    /// Send a whole request.
    pub async fn write(&mut self, request: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(request).await?;
        if matches!(self.stream, Stream::Tls(_)) {
            self.stream.flush().await?;
        }
        Ok(())
    }

    /// Read one response into `out`; `ttfb` is set when its head is complete.
    pub async fn read_response(
        &mut self,
        decoder: &mut Decoder,
        out: &mut Received,
        max_head: usize,
        started: Instant,
        ttfb: &mut Option<Duration>,
    ) -> Result<Finished, ReadError> {
        loop {
            if self.end > self.start || !decoder.head_done() {
                let (n, progress) = decoder
                    .feed(&self.buf[self.start..self.end], out)
                    .map_err(ReadError::Malformed)?;
                self.start += n;
                if ttfb.is_none() && decoder.head_done() {
                    *ttfb = Some(started.elapsed());
                }
                if progress == Progress::Done {
                    let reusable = decoder.keep_alive() && self.start == self.end;
                    self.start = 0;
                    self.end = 0;
                    return Ok(Finished { reusable });
                }
            }
            self.make_room(max_head);
            let n = self
                .stream
                .read(&mut self.buf[self.end..])
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return match decoder.eof(self.end - self.start) {
                    Eof::Complete => Ok(Finished { reusable: false }),
                    Eof::Nothing => Err(ReadError::ClosedEarly),
                    Eof::Truncated => Err(ReadError::Truncated),
                };
            }
            self.end += n;
        }
    }

    /// Room to read into: unread bytes moved to the front, the buffer grown when they fill it
    /// (a head or chunk line longer than the buffer, bounded by the decoder's limits).
    fn make_room(&mut self, max_head: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(max_head + READ_BUF).max(READ_BUF);
            self.buf.resize(grown.max(self.buf.len() + 1), 0);
        }
    }
}
