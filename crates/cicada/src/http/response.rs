//! A response as the client keeps it: status, the head's bytes with an index of its headers
//! (looked up only when a capture, check, cookie or `Server-Timing` asks), the body when asked
//! for, and the first bytes of the body for failure reports. One [`Received`] per user, reused:
//! after the first few requests, reading a response allocates nothing.

/// Bytes of a response body kept for failure reports ([`ResponseView::excerpt`]).
pub const EXCERPT_LEN: usize = 200;

/// Where one header sits in the head's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderPos {
    name: (u32, u32),
    value: (u32, u32),
}

/// The last response a user received (reused from one request to the next).
#[derive(Debug, Default)]
pub struct Received {
    pub(crate) status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) version: u8,
    head: Vec<u8>,
    headers: Vec<HeaderPos>,
    /// The body, when the request asked for it.
    pub(crate) body: Vec<u8>,
    pub(crate) keep_body: bool,
    excerpt: Vec<u8>,
    /// Body bytes received (after chunked decoding).
    pub(crate) bytes: u64,
}

impl Received {
    /// Forget the previous response; keep the buffers.
    pub(crate) fn reset(&mut self, keep_body: bool) {
        self.status = 0;
        self.version = 1;
        self.head.clear();
        self.headers.clear();
        self.body.clear();
        self.excerpt.clear();
        self.keep_body = keep_body;
        self.bytes = 0;
    }

    /// Free the buffers (a parked user keeps no response).
    pub(crate) fn release(&mut self) {
        *self = Self::default();
    }

    /// Take the head `raw` (a complete response head) and its parsed headers.
    pub(crate) fn set_head(&mut self, raw: &[u8], headers: &[httparse::Header<'_>]) {
        self.head.clear();
        self.head.extend_from_slice(raw);
        self.headers.clear();
        let base = raw.as_ptr() as usize;
        let at = |s: &[u8]| ((s.as_ptr() as usize - base) as u32, s.len() as u32);
        self.headers.extend(headers.iter().map(|h| HeaderPos {
            name: at(h.name.as_bytes()),
            value: at(h.value),
        }));
    }

    /// Add body bytes: counted, the first [`EXCERPT_LEN`] kept, all of them when asked for and
    /// within `max_body`. `Err` when the kept body would grow past `max_body`.
    pub(crate) fn add_body(&mut self, data: &[u8], max_body: usize) -> Result<(), ()> {
        self.bytes += data.len() as u64;
        if self.keep_body {
            if self.body.len() + data.len() > max_body {
                return Err(());
            }
            self.body.extend_from_slice(data);
        } else if self.excerpt.len() < EXCERPT_LEN {
            let take = data.len().min(EXCERPT_LEN - self.excerpt.len());
            self.excerpt.extend_from_slice(&data[..take]);
        }
        Ok(())
    }

    /// The view that checks, captures and failure reports read.
    pub fn view(&self) -> ResponseView<'_> {
        ResponseView { r: self }
    }
}

/// A borrowed view of the last response.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    r: &'a Received,
}

impl<'a> ResponseView<'a> {
    /// The status code (0 before any response).
    pub fn status(&self) -> u16 {
        self.r.status
    }

    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn version(&self) -> &'static str {
        if self.r.version == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        }
    }

    /// Every header, in the order received: `(name, value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + use<'a> {
        let head = &self.r.head;
        self.r.headers.iter().map(move |h| {
            let name = &head[h.name.0 as usize..(h.name.0 + h.name.1) as usize];
            let value = &head[h.value.0 as usize..(h.value.0 + h.value.1) as usize];
            // httparse only accepts token characters in names.
            (std::str::from_utf8(name).unwrap_or_default(), value)
        })
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_all(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body, when the request asked for it (`want_body`); `None` otherwise.
    pub fn body(&self) -> Option<&'a [u8]> {
        self.r.keep_body.then_some(self.r.body.as_slice())
    }

    /// Body bytes received.
    pub fn bytes(&self) -> u64 {
        self.r.bytes
    }

    /// The first [`EXCERPT_LEN`] bytes of the body (kept for every response, asked for or
    /// not), for failure reports.
    pub fn excerpt(&self) -> &'a [u8] {
        if self.r.keep_body {
            &self.r.body[..self.r.body.len().min(EXCERPT_LEN)]
        } else {
            &self.r.excerpt
        }
    }
}
