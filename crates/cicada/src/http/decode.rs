//! Reading one HTTP/1.1 response out of whatever bytes have arrived, with no I/O of its own: the
//! connection ([`super::conn`]) hands [`Decoder::feed`] the unread part of its buffer, and the
//! decoder takes what it can — the head (parsed in place with `httparse`), then the body as the
//! head frames it (`Content-Length`, chunked with extensions and trailers, or up to the close),
//! counting it and keeping only what the request asked for. Informational responses (`100
//! Continue`, `103 Early Hints`) are skipped; `HEAD`, `204` and `304` have no body. Anything
//! malformed is an [`Malformed`] error with its reason. The same input split anywhere across
//! calls gives the same result.

use super::response::Received;

/// Most headers a response head may have.
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// Bounds of what the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest response head (and trailer section), in bytes.
    pub max_head: usize,
    /// Largest body kept for checks and captures (bodies nobody reads are never bounded).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: 256 * 1024,
            max_body: 16 * 1024 * 1024,
        }
    }
}

/// Why a response is not acceptable; the message groups well in a failure report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("malformed HTTP response: {0}")]
    Head(&'static str),
    #[error("malformed HTTP response: more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("malformed HTTP response: head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("malformed HTTP response: invalid Content-Length")]
    ContentLength,
    #[error("malformed HTTP response: conflicting Content-Length values")]
    ConflictingLengths,
    #[error("malformed HTTP response: invalid chunk size line")]
    ChunkSize,
    #[error("malformed HTTP response: chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("malformed HTTP response: invalid trailer line")]
    Trailer,
    #[error("malformed HTTP response: trailers larger than {0} bytes")]
    TrailersTooLarge(usize),
    #[error("unexpected 101 Switching Protocols (upgrades are not supported)")]
    Upgrade,
    #[error("response body larger than the {0} bytes kept for checks and captures")]
    BodyTooLarge(usize),
}

/// How the body of the current response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    /// Up to the end of the connection.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    /// Trailer bytes taken so far.
    Trailers(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(Body),
    Done,
}

/// What [`Decoder::feed`] reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    More,
    /// The response is complete.
    Done,
}

/// How the connection ended, as seen by [`Decoder::eof`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eof {
    /// Closed before any byte of the response: the request may not have been read at all.
    Nothing,
    /// Closed part-way: the response is incomplete.
    Truncated,
    /// The body ran to the close, as its head said: complete.
    Complete,
}

/// The decoder of one response.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    head_request: bool,
    keep_alive: bool,
    seen_any: bool,
    limits: Limits,
}

impl Decoder {
    /// A decoder for the response to a request (`head_request`: the request was `HEAD`, so
    /// the response has no body whatever its head says).
    pub fn new(head_request: bool, limits: Limits) -> Self {
        Self {
            state: State::Head,
            head_request,
            keep_alive: true,
            seen_any: false,
            limits,
        }
    }

    /// Whether the final head has been read (for the time to the response head).
    pub fn head_done(&self) -> bool {
        self.state != State::Head
    }

    /// Whether the connection can carry another request after this response.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Take what can be taken from `input`, filling `out`. Returns the bytes consumed (the
    /// caller keeps the rest for the next call, after reading more) and whether the response
    /// is complete. When it is, bytes after it are not consumed.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Received,
    ) -> Result<(usize, Progress), Malformed> {
        if !input.is_empty() {
            self.seen_any = true;
        }
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok((pos, Progress::Done)),
                State::Head => match self.head(rest, out)? {
                    Some(n) => pos += n,
                    None => return Ok((pos, Progress::More)),
                },
                State::Body(Body::Length(left)) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.add(&rest[..take], out)?;
                    pos += take;
                    let left = left - take as u64;
                    if left == 0 {
                        self.state = State::Done;
                    } else {
                        self.state = State::Body(Body::Length(left));
                        return Ok((pos, Progress::More));
                    }
                }
                State::Body(Body::Close) => {
                    self.add(rest, out)?;
                    return Ok((input.len(), Progress::More));
                }
                State::Body(Body::Chunked(chunk)) => match self.chunked(chunk, rest, out)? {
                    Some(n) => pos += n,
                    None => return Ok((pos, Progress::More)),
                },
            }
        }
    }

    /// The connection ended (`unread`: bytes received but not consumed by [`Decoder::feed`]).
    pub fn eof(&self, unread: usize) -> Eof {
        match self.state {
            State::Done => Eof::Complete,
            State::Body(Body::Close) => Eof::Complete,
            State::Head if !self.seen_any && unread == 0 => Eof::Nothing,
            _ => Eof::Truncated,
        }
    }

    fn add(&mut self, data: &[u8], out: &mut Received) -> Result<(), Malformed> {
        out.add_body(data, self.limits.max_body)
            .map_err(|()| Malformed::BodyTooLarge(self.limits.max_body))
    }

    /// Parse a head from `input`: `Some(consumed)` when one was complete.
    fn head(&mut self, input: &[u8], out: &mut Received) -> Result<Option<usize>, Malformed> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let len = match parsed.parse(input) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if input.len() >= self.limits.max_head {
                    return Err(Malformed::HeadTooLarge(self.limits.max_head));
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(Malformed::TooManyHeaders),
            Err(e) => return Err(Malformed::Head(error_text(e))),
        };
        if len > self.limits.max_head {
            return Err(Malformed::HeadTooLarge(self.limits.max_head));
        }
        let status = parsed.code.unwrap_or_default();
        let version = parsed.version.unwrap_or(1);
        if status == 101 {
            return Err(Malformed::Upgrade);
        }
        if (100..200).contains(&status) {
            // An informational response: the final one follows.
            return Ok(Some(len));
        }
        let framing = Framing::read(parsed.headers)?;
        out.status = status;
        out.version = version;
        out.set_head(&input[..len], parsed.headers);
        self.keep_alive = match framing.connection {
            Some(keep) => keep,
            None => version == 1,
        };
        let no_body = self.head_request || status == 204 || status == 304;
        self.state = if no_body {
            State::Done
        } else if framing.chunked {
            State::Body(Body::Chunked(Chunk::Size))
        } else if framing.other_coding {
            // A transfer coding other than chunked last: the body runs to the close.
            State::Body(Body::Close)
        } else {
            match framing.length {
                Some(0) => State::Done,
                Some(n) => State::Body(Body::Length(n)),
                None => State::Body(Body::Close),
            }
        };
        if self.state == State::Body(Body::Close) {
            self.keep_alive = false;
        }
        Ok(Some(len))
    }

    /// Take one step of a chunked body: `Some(consumed)` when it moved on.
    fn chunked(
        &mut self,
        chunk: Chunk,
        input: &[u8],
        out: &mut Received,
    ) -> Result<Option<usize>, Malformed> {
        let set = |s: &mut Self, c| s.state = State::Body(Body::Chunked(c));
        match chunk {
            Chunk::Size => {
                if input.is_empty() {
                    return Ok(None);
                }
                if !input[0].is_ascii_hexdigit() {
                    return Err(Malformed::ChunkSize);
                }
                match httparse::parse_chunk_size(input) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        set(
                            self,
                            if size == 0 {
                                Chunk::Trailers(0)
                            } else {
                                Chunk::Data(size)
                            },
                        );
                        Ok(Some(n))
                    }
                    Ok(httparse::Status::Partial) if input.len() < MAX_CHUNK_LINE => Ok(None),
                    _ => Err(Malformed::ChunkSize),
                }
            }
            Chunk::Data(left) => {
                if input.is_empty() {
                    return Ok(None);
                }
                let take = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.add(&input[..take], out)?;
                let left = left - take as u64;
                set(
                    self,
                    if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    },
                );
                Ok(Some(take))
            }
            Chunk::DataEnd => match input {
                [b'\r', b'\n', ..] => {
                    set(self, Chunk::Size);
                    Ok(Some(2))
                }
                [] | [b'\r'] => Ok(None),
                _ => Err(Malformed::ChunkEnd),
            },
            Chunk::Trailers(taken) => {
                let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                    if taken + input.len() > self.limits.max_head {
                        return Err(Malformed::TrailersTooLarge(self.limits.max_head));
                    }
                    return Ok(None);
                };
                let taken = taken + nl + 1;
                if taken > self.limits.max_head {
                    return Err(Malformed::TrailersTooLarge(self.limits.max_head));
                }
                let line = &input[..nl];
                let line = line.strip_suffix(b"\r").ok_or(Malformed::Trailer)?;
                if line.is_empty() {
                    self.state = State::Done;
                } else if valid_field_line(line) {
                    set(self, Chunk::Trailers(taken));
                } else {
                    return Err(Malformed::Trailer);
                }
                Ok(Some(nl + 1))
            }
        }
    }
}

/// `name: value` with a token name.
fn valid_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0
        && line[..colon].iter().all(|&b| is_token(b))
        && line[colon + 1..]
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn error_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "not an HTTP/1.x response",
    }
}

/// What the headers say about the body and the connection.
#[derive(Debug, Default)]
struct Framing {
    length: Option<u64>,
    chunked: bool,
    other_coding: bool,
    /// `Some(false)` for `Connection: close`, `Some(true)` for `keep-alive`.
    connection: Option<bool>,
}

impl Framing {
    fn read(headers: &[httparse::Header<'_>]) -> Result<Self, Malformed> {
        let mut f = Self::default();
        for h in headers {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                for part in h.value.split(|&b| b == b',') {
                    let n = parse_length(trim(part)).ok_or(Malformed::ContentLength)?;
                    if f.length.is_some_and(|m| m != n) {
                        return Err(Malformed::ConflictingLengths);
                    }
                    f.length = Some(n);
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                for coding in h.value.split(|&b| b == b',').map(trim) {
                    if coding.is_empty() {
                        continue;
                    }
                    // Only the last coding decides: chunked must be last to frame the body.
                    f.chunked = coding.eq_ignore_ascii_case(b"chunked");
                    f.other_coding = !f.chunked;
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        f.connection = Some(false);
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && f.connection.is_none() {
                        f.connection = Some(true);
                    }
                }
            }
        }
        Ok(f)
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` fed in pieces cut at `cuts`, then the end of the connection if the
    /// response did not complete by itself. Returns status, body, whether the connection can
    /// be reused, and the bytes left after the response.
    pub(super) fn decode_split(
        input: &[u8],
        cuts: &[usize],
        head_request: bool,
        keep_body: bool,
        limits: Limits,
    ) -> Result<(u16, Vec<u8>, bool, usize), String> {
        let mut d = Decoder::new(head_request, limits);
        let mut out = Received::default();
        out.reset(keep_body);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
        ends.sort_unstable();
        ends.push(input.len());
        for end in ends {
            buf.extend_from_slice(&input[fed.min(end)..end]);
            fed = fed.max(end);
            let (n, p) = d.feed(&buf, &mut out).map_err(|e| e.to_string())?;
            buf.drain(..n);
            if p == Progress::Done {
                let body = if keep_body {
                    out.body.clone()
                } else {
                    Vec::new()
                };
                return Ok((out.status, body, d.keep_alive(), buf.len()));
            }
        }
        match d.eof(buf.len()) {
            Eof::Complete => Ok((out.status, out.body.clone(), false, 0)),
            Eof::Nothing => Err("closed before any response".into()),
            Eof::Truncated => Err("truncated".into()),
        }
    }

    fn decode(input: &[u8]) -> Result<(u16, Vec<u8>, bool, usize), String> {
        decode_split(input, &[], false, true, Limits::default())
    }

    #[test]
    fn content_length_and_keep_alive() {
        let r = decode(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(r, Ok((200, b"hello".to_vec(), true, 0)));
        let r = decode(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        assert_eq!(r, Ok((200, b"ok".to_vec(), false, 0)));
        let r = decode(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(r, Ok((200, b"ok".to_vec(), false, 0)));
        let r = decode(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(r, Ok((200, b"ok".to_vec(), true, 0)));
        let r = decode(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nokEXTRA");
        assert_eq!(r, Ok((200, b"ok".to_vec(), true, 5)));
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n\
                    0\r\nServer-Timing: db;dur=1\r\nX-T: y\r\n\r\n";
        let r = decode(raw);
        assert_eq!(
            r,
            Ok((200, b"Wikipedia in\r\n\r\nchunks.".to_vec(), true, 0))
        );
        for cut in 0..raw.len() {
            assert_eq!(
                decode_split(raw, &[cut], false, true, Limits::default()),
                r,
                "cut at {cut}"
            );
        }
        let every: Vec<usize> = (1..raw.len()).collect();
        assert_eq!(decode_split(raw, &every, false, true, Limits::default()), r);
    }

    #[test]
    fn no_body_for_head_204_304_and_informational_responses_skipped() {
        let r = decode_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            &[],
            true,
            true,
            Limits::default(),
        );
        assert_eq!(r, Ok((200, vec![], true, 0)));
        for status in ["204 No Content", "304 Not Modified"] {
            let raw = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
            assert_eq!(
                decode(raw.as_bytes()).map(|r| r.0),
                Ok(status[..3].parse().unwrap())
            );
        }
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                    HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(decode(raw), Ok((201, b"x".to_vec(), true, 0)));
    }

    #[test]
    fn body_to_the_close() {
        let raw = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(decode(raw), Ok((200, b"all of it".to_vec(), false, 0)));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\nabc";
        assert_eq!(decode(raw), Ok((200, b"abc".to_vec(), false, 0)));
    }

    #[test]
    fn malformed_responses_are_errors_with_their_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"this is not http\r\n\r\n", "not an HTTP/1.x response"),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "invalid status line"),
            (
                b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "invalid header name",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "invalid Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                "invalid Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "conflicting Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "invalid chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
                "invalid chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
                "invalid chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
                "chunk data not followed by CRLF",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
                "invalid trailer line",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "101 Switching Protocols",
            ),
            (b"HTTP/1.1 200 OK\r\n", "truncated"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                "truncated",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                "truncated",
            ),
            (b"", "closed before any response"),
        ];
        for (raw, reason) in cases {
            let e = decode(raw).expect_err(&String::from_utf8_lossy(raw));
            assert!(
                e.contains(reason),
                "{:?}: {e}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn oversized_heads_and_kept_bodies_are_bounded() {
        let limits = Limits {
            max_head: 1024,
            max_body: 10,
        };
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b"X-Pad: 0123456789\r\n".as_slice(), 100).flatten());
        let e = decode_split(&raw, &[], false, true, limits).unwrap_err();
        assert!(e.contains("head larger than 1024 bytes"), "{e}");
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        many.extend(std::iter::repeat_n(b"A: b\r\n".as_slice(), MAX_HEADERS + 1).flatten());
        many.extend_from_slice(b"\r\n");
        let e = decode(&many).unwrap_err();
        assert!(e.contains("more than 128 headers"), "{e}");
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        let e = decode_split(big, &[], false, true, limits).unwrap_err();
        assert!(e.contains("larger than the 10 bytes kept"), "{e}");
        // Not kept, not bounded: only counted.
        let r = decode_split(big, &[], false, false, limits);
        assert_eq!(r, Ok((200, vec![], true, 0)));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::tests::decode_split;
    use super::*;

    /// A valid response, its body, and whether it keeps the connection.
    fn response() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, bool)> {
        let body = proptest::collection::vec(any::<u8>(), 0..300);
        let chunks = proptest::collection::vec(1usize..50, 0..8);
        (body, chunks, 0u8..4, any::<bool>(), any::<bool>()).prop_map(
            |(body, chunks, framing, close, informational)| {
                let mut raw = Vec::new();
                if informational {
                    raw.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                raw.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: p\r\n");
                if close {
                    raw.extend_from_slice(b"Connection: close\r\n");
                }
                let mut keep = !close;
                match framing {
                    0 | 1 => {
                        raw.extend_from_slice(
                            format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                        );
                        raw.extend_from_slice(&body);
                    }
                    2 => {
                        raw.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                        let mut rest = &body[..];
                        let mut sizes = chunks.iter().cycle();
                        while !rest.is_empty() {
                            let n = (*sizes.next().unwrap_or(&7)).min(rest.len());
                            raw.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
                            raw.extend_from_slice(&rest[..n]);
                            raw.extend_from_slice(b"\r\n");
                            rest = &rest[n..];
                        }
                        raw.extend_from_slice(b"0\r\nTrailer-X: 1\r\n\r\n");
                    }
                    _ => {
                        raw.extend_from_slice(b"\r\n");
                        raw.extend_from_slice(&body);
                        keep = false;
                    }
                }
                (raw, body, keep)
            },
        )
    }

    proptest! {
        /// A valid response split anywhere decodes to the same status and body.
        #[test]
        fn valid_responses_split_anywhere(
            (raw, body, keep) in response(),
            cuts in proptest::collection::vec(0usize..700, 0..12),
            keep_body in any::<bool>(),
        ) {
            let r = decode_split(&raw, &cuts, false, keep_body, Limits::default());
            let want = if keep_body { body.clone() } else { Vec::new() };
            prop_assert_eq!(r, Ok((200, want, keep, 0)));
        }

        /// Any bytes at all, split anywhere: an answer or an error, never a panic; and the
        /// same answer however they are split.
        #[test]
        fn random_bytes_never_panic_and_split_alike(
            raw in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let whole = decode_split(&raw, &[], false, true, Limits::default());
            let split = decode_split(&raw, &cuts, false, true, Limits::default());
            prop_assert_eq!(whole, split);
        }

        /// A valid response with bytes flipped: an answer or an error, never a panic, and the
        /// same however it is split.
        #[test]
        fn corrupted_responses_split_alike(
            (raw, _, _) in response(),
            flips in proptest::collection::vec((0usize..700, any::<u8>()), 1..4),
            cuts in proptest::collection::vec(0usize..700, 0..8),
        ) {
            let mut raw = raw;
            for (at, byte) in flips {
                let n = raw.len();
                if n > 0 {
                    raw[at % n] = byte;
                }
            }
            let whole = decode_split(&raw, &[], false, true, Limits::default());
            let split = decode_split(&raw, &cuts, false, true, Limits::default());
            prop_assert_eq!(whole, split);
        }
    }
}
