//! Writing a request head and body into the user's reused buffer, sent with one write.
//!
//! What does not change from one request to the next — the request line of a request without
//! variables, the `Host` header, fixed headers — is rendered once per run into a
//! [`Prepared`]; each request then copies it and adds what varies (dynamic headers, the
//! `Cookie` header, `Content-Length` and the body).

use http::Method;

/// Why a request could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("rendered path is not a valid request target")]
    Target,
    #[error("rendered header {0} is not a valid header value")]
    HeaderValue(String),
    #[error("invalid header name {0:?}")]
    HeaderName(String),
}

/// Headers the client writes itself; the same names given by a scenario are not sent twice.
fn written_by_client(name: &str) -> bool {
    ["host", "content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// The parts of one request that are the same every time, rendered once per run.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// `METHOD target HTTP/1.1\r\nHost: …\r\n`, when the target has no variables.
    line: Option<Vec<u8>>,
    /// Fixed header lines, each ending in CRLF.
    fixed: Vec<u8>,
    /// Whether a scenario header sets the content type (then the body's default is not sent).
    has_content_type: bool,
}

impl Prepared {
    /// Prepare a request: `target` when it has no variables, and its fixed headers.
    pub fn new<'a>(
        method: &Method,
        host: &str,
        target: Option<&str>,
        fixed_headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        header_names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, RequestError> {
        let line = match target {
            Some(t) => {
                let mut line = Vec::new();
                write_line(&mut line, method, host, t)?;
                Some(line)
            }
            None => None,
        };
        let mut fixed = Vec::new();
        for (name, value) in fixed_headers {
            if !written_by_client(name) {
                push_header(&mut fixed, name, value)?;
            }
        }
        let has_content_type = header_names
            .into_iter()
            .any(|n| n.eq_ignore_ascii_case("content-type"));
        Ok(Self {
            line,
            fixed,
            has_content_type,
        })
    }

    /// Whether the request line is prepared (the target has no variables).
    pub fn has_line(&self) -> bool {
        self.line.is_some()
    }
}

/// A request being written into the user's buffer. Start it with
/// [`super::UserClient::request`], add headers, then send it with
/// [`super::UserClient::send`].
#[derive(Debug)]
pub struct RequestWriter<'a> {
    buf: &'a mut Vec<u8>,
    has_content_type: &'a mut bool,
}

impl RequestWriter<'_> {
    /// Add a header whose value was rendered for this request.
    pub fn header(&mut self, name: &str, value: &[u8]) -> Result<(), RequestError> {
        if written_by_client(name) {
            return Ok(());
        }
        if name.eq_ignore_ascii_case("content-type") {
            *self.has_content_type = true;
        }
        push_header(self.buf, name, value)
    }
}

/// Start a request in `buf`: the prepared line, or one written from `target`.
pub(crate) fn start<'a>(
    buf: &'a mut Vec<u8>,
    prepared: &Prepared,
    method: &Method,
    host: &str,
    target: Option<&str>,
    has_content_type: &'a mut bool,
) -> Result<RequestWriter<'a>, RequestError> {
    buf.clear();
    match (&prepared.line, target) {
        (_, Some(t)) => write_line(buf, method, host, t)?,
        (Some(line), None) => buf.extend_from_slice(line),
        (None, None) => return Err(RequestError::Target),
    }
    buf.extend_from_slice(&prepared.fixed);
    *has_content_type = prepared.has_content_type;
    Ok(RequestWriter {
        buf,
        has_content_type,
    })
}

/// End the request in `buf`: the `Cookie` header, then the body with its length and content
/// type (unless a header set one).
pub(crate) fn finish(
    buf: &mut Vec<u8>,
    has_content_type: bool,
    cookie: Option<&[u8]>,
    body: Option<(&[u8], &[u8])>,
) {
    if let Some(cookie) = cookie {
        push_unchecked(buf, "cookie", cookie);
    }
    match body {
        Some((bytes, content_type)) => {
            if !has_content_type && !content_type.is_empty() {
                push_unchecked(buf, "content-type", content_type);
            }
            buf.extend_from_slice(b"content-length: ");
            let mut n = itoa::Buffer::new();
            buf.extend_from_slice(n.format(bytes.len()).as_bytes());
            buf.extend_from_slice(b"\r\n\r\n");
            buf.extend_from_slice(bytes);
        }
        None => buf.extend_from_slice(b"\r\n"),
    }
}

fn write_line(
    buf: &mut Vec<u8>,
    method: &Method,
    host: &str,
    target: &str,
) -> Result<(), RequestError> {
    if !valid_target(target) {
        return Err(RequestError::Target);
    }
    buf.extend_from_slice(method.as_str().as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(target.as_bytes());
    buf.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    buf.extend_from_slice(host.as_bytes());
    buf.extend_from_slice(b"\r\n");
    Ok(())
}

/// An origin-form target: starts with `/`, visible ASCII only (no spaces, no controls), no
/// fragment.
pub fn valid_target(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|b| b > b' ' && b < 0x7f && b != b'#')
}

fn push_header(buf: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), RequestError> {
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(RequestError::HeaderName(name.to_string()));
    }
    // As `http::HeaderValue` accepts: visible ASCII, obs-text, spaces and tabs; never CR, LF
    // or NUL (no header injection through a rendered variable).
    if !value
        .iter()
        .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
    {
        return Err(RequestError::HeaderValue(name.to_string()));
    }
    push_unchecked(buf, name, value);
    Ok(())
}

fn push_unchecked(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(p: &Prepared, target: Option<&str>, body: Option<(&[u8], &[u8])>) -> String {
        let (mut buf, mut typed) = (Vec::new(), false);
        let mut w = start(&mut buf, p, &Method::POST, "h:1", target, &mut typed).unwrap();
        w.header("x-dyn", b"v").unwrap();
        finish(&mut buf, typed, Some(b"a=1"), body);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn prepared_parts_and_per_request_parts() {
        let fixed = [("accept", &b"*/*"[..]), ("Host", &b"evil"[..])];
        let p = Prepared::new(&Method::POST, "h:1", Some("/a?b=1"), fixed, ["accept"]).unwrap();
        assert_eq!(
            render(&p, None, Some((b"{}", b"application/json"))),
            "POST /a?b=1 HTTP/1.1\r\nhost: h:1\r\naccept: */*\r\nx-dyn: v\r\ncookie: a=1\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert_eq!(
            render(&p, Some("/x/1"), None),
            "POST /x/1 HTTP/1.1\r\nhost: h:1\r\naccept: */*\r\nx-dyn: v\r\ncookie: a=1\r\n\r\n"
        );
        let typed = Prepared::new(&Method::POST, "h", Some("/"), [], ["Content-Type"]).unwrap();
        assert!(!render(&typed, None, Some((b"x", b"text/plain"))).contains("text/plain"));
    }

    #[test]
    fn bad_targets_and_header_values_are_errors() {
        let p = Prepared::default();
        for bad in ["/a b", "/a\r\nX: y", "x", "/a#frag", "/é"] {
            let (mut buf, mut typed) = (Vec::new(), false);
            assert_eq!(
                start(&mut buf, &p, &Method::GET, "h", Some(bad), &mut typed).unwrap_err(),
                RequestError::Target,
                "{bad:?}"
            );
        }
        let (mut buf, mut typed) = (Vec::new(), false);
        let mut w = start(&mut buf, &p, &Method::GET, "h", Some("/"), &mut typed).unwrap();
        assert!(w.header("x", b"a\r\nInjected: 1").is_err());
        assert!(w.header("x", b"a\nb").is_err());
        assert!(w.header("bad name", b"v").is_err());
        assert!(w.header("x", "tab\tand é".as_bytes()).is_ok());
    }
}
