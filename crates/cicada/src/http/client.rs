//! One simulated user's HTTP/1.1 client: a single keep-alive connection driven by hyper's
//! low-level `client::conn::http1` API inside the user's own task ([`super::link`]), parked
//! during long waits, reopened when the server closes it or when it reaches its maximum
//! lifetime. Every failure is classified, never a panic.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cicada_report::model::FailureKind;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;
use hyper::body::Body as _;
use tokio::net::TcpStream;

use super::cookies::CookieJar;
use super::link::{Link, poll_future};
use super::stream::Stream;
use super::tls::TlsSetup;
use crate::duration::format_duration;
use crate::target::Target;

/// Settings shared by every user's client.
#[derive(Debug)]
pub struct ClientSettings {
    pub target: Target,
    /// The resolved address of the target.
    pub addr: SocketAddr,
    pub host_header: HeaderValue,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connection_lifetime: Option<Duration>,
    pub tls: Option<TlsSetup>,
}

/// A request that did not produce a usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFailure {
    pub kind: FailureKind,
    pub message: String,
    /// Time to the response head, if one arrived.
    pub ttfb: Option<Duration>,
    /// Connect time if this request opened a connection.
    pub connect: Option<Duration>,
}

/// What came back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, when asked for.
    pub body: Option<Bytes>,
    /// Body bytes received.
    pub bytes: u64,
    pub ttfb: Duration,
    pub connect: Option<Duration>,
}

/// A user's connection and cookies.
#[derive(Debug)]
pub struct UserClient {
    settings: Arc<ClientSettings>,
    link: Link,
    opened: Instant,
    /// The request timer, made on the first request and kept: it is only re-armed when it
    /// fires before the current request's deadline (at most once per request timeout).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    pub cookies: CookieJar,
}

/// A wait at least this long before the next request parks the user's connection (keeps the
/// TCP/TLS stream, frees hyper's ~25 KB of per-connection state). Re-activating costs a few
/// allocations and no network I/O, i.e. about a microsecond per 50 ms of waiting; shorter waits
/// (and back-to-back requests) keep the connection active and pay nothing.
pub const PARK_AFTER: Duration = Duration::from_millis(50);

impl UserClient {
    pub fn new(settings: Arc<ClientSettings>) -> Self {
        Self {
            settings,
            link: Link::Closed,
            opened: Instant::now(),
            timer: None,
            cookies: CookieJar::default(),
        }
    }

    /// Settings this client uses.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Drop the connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        self.link = Link::Closed;
    }

    /// The user is about to wait `pause`: if that is long ([`PARK_AFTER`]), keep only the open
    /// stream while it waits. A connection past its maximum lifetime is closed instead.
    pub fn before_wait(&mut self, pause: Duration) {
        if pause < PARK_AFTER {
            return;
        }
        if self.expired() {
            self.link = Link::Closed;
        } else {
            self.link.park();
        }
    }

    /// Whether the connection is parked (open stream, no HTTP state).
    pub fn is_parked(&self) -> bool {
        self.link.is_parked()
    }

    fn expired(&self) -> bool {
        self.settings
            .max_connection_lifetime
            .is_some_and(|max| self.opened.elapsed() >= max)
    }

    async fn connect(&mut self) -> Result<Duration, HttpFailure> {
        let started = Instant::now();
        let s = Arc::clone(&self.settings);
        let fail = |kind, message: String| HttpFailure {
            kind,
            message,
            ttfb: None,
            connect: None,
        };
        let connecting = async {
            let tcp = TcpStream::connect(s.addr).await.map_err(|e| {
                fail(
                    FailureKind::Connection,
                    format!("connect to {}: {}", s.addr, io_message(&e)),
                )
            })?;
            let _ = tcp.set_nodelay(true);
            match &s.tls {
                None => Ok(Stream::Tcp(tcp)),
                Some(tls) => tls
                    .connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map(|t| Stream::Tls(Box::new(t)))
                    .map_err(|e| fail(FailureKind::Other, format!("TLS handshake: {e}"))),
            }
        };
        let stream = tokio::time::timeout(s.connect_timeout, connecting)
            .await
            .map_err(|_| {
                fail(
                    FailureKind::Timeout,
                    format!(
                        "connect timed out after {}",
                        format_duration(s.connect_timeout)
                    ),
                )
            })??;
        self.link = activate(stream).await?;
        self.opened = Instant::now();
        Ok(started.elapsed())
    }

    /// Send a request and read the response (the whole body when `want_body`, else counting
    /// its bytes), all within the request timeout (one timer per user); a new connection's
    /// connect is also bounded by the connect timeout. A request that a reused connection could
    /// not take (the server had closed it) is sent once more on a fresh connection, as browsers
    /// do.
    pub async fn send(
        &mut self,
        mut request: http::Request<Full<Bytes>>,
        want_body: bool,
    ) -> Result<HttpResponse, HttpFailure> {
        if !self.link.is_closed() && self.expired() {
            self.link = Link::Closed;
        }
        request
            .headers_mut()
            .insert(http::header::HOST, self.settings.host_header.clone());
        if let Some(cookie) = self.cookies.header() {
            request
                .headers_mut()
                .insert(http::header::COOKIE, cookie.clone());
        }
        let timeout = self.settings.request_timeout;
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + timeout);
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        let mut connect = None;
        let mut ttfb = None;
        let result = {
            let mut exchange =
                pin!(self.exchange(request, want_body, started, &mut connect, &mut ttfb));
            poll_fn(|cx| {
                if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(Ok(r));
                }
                // The user's timer is only moved when it fires before this request's
                // deadline (it was set by an earlier request): no timer-wheel work per request.
                while timer.as_mut().poll(cx).is_ready() {
                    if timer.deadline() >= deadline {
                        return Poll::Ready(Err(()));
                    }
                    timer.as_mut().reset(deadline);
                }
                Poll::Pending
            })
            .await
        };
        self.timer = Some(timer);
        match result {
            Ok(Ok(response)) => {
                self.cookies.store(&response.headers);
                Ok(response)
            }
            Ok(Err(mut f)) => {
                self.link = Link::Closed;
                f.connect = connect;
                f.ttfb = ttfb;
                Err(f)
            }
            Err(_) => {
                // The connection is in an unknown state: never reuse it.
                self.link = Link::Closed;
                Err(failure(
                    (
                        FailureKind::Timeout,
                        format!("request timed out after {}", format_duration(timeout)),
                    ),
                    ttfb,
                    connect,
                ))
            }
        }
    }

    /// Make the link active: open a connection if there is none, re-activate a parked one.
    /// Returns whether the connection is new (a request it cannot take is not retried).
    async fn activate(&mut self, connect: &mut Option<Duration>) -> Result<bool, HttpFailure> {
        match std::mem::take(&mut self.link) {
            Link::Closed => {
                // Boxed: connecting (TCP, TLS, handshake) is rare and its future is large; kept
                // inline it would make every user's task that much bigger for its whole life.
                let took = Box::pin(self.connect()).await?;
                *connect = Some(connect.unwrap_or_default() + took);
                Ok(true)
            }
            Link::Parked(stream) => {
                self.link = activate(stream).await?;
                Ok(false)
            }
            active @ Link::Active(_) => {
                self.link = active;
                Ok(false)
            }
        }
    }

    async fn exchange(
        &mut self,
        request: http::Request<Full<Bytes>>,
        want_body: bool,
        started: Instant,
        connect: &mut Option<Duration>,
        ttfb: &mut Option<Duration>,
    ) -> Result<HttpResponse, HttpFailure> {
        let mut pending = Some(request);
        let mut response = None;
        for attempt in 0..2 {
            let fresh = self.activate(connect).await?;
            // A connection that has not asked for the next request yet is driven until it
            // does (or turns out closed). One that has takes it at once; if the server closed
            // it meanwhile, hyper notices before writing and hands the request back.
            let wanting = self.link.sender().is_some_and(|s| s.is_ready());
            if !wanting && !poll_fn(|cx| self.link.poll_ready(cx)).await {
                if fresh || attempt > 0 {
                    return Err(failure(
                        (FailureKind::Connection, "connection closed".to_string()),
                        None,
                        None,
                    ));
                }
                continue;
            }
            let request = pending.take().expect("a request to send");
            let sender = self.link.sender().expect("active after poll_ready");
            let mut sending = pin!(sender.try_send_request(request));
            let sent = poll_fn(|cx| poll_future(&mut self.link, cx, sending.as_mut())).await;
            let (error, unsent) = match sent {
                Some(Ok(r)) => {
                    response = Some(r);
                    break;
                }
                Some(Err(mut e)) => {
                    let unsent = e.take_message();
                    (Some(e.into_error()), unsent)
                }
                // The connection ended and dropped the request's callback unanswered.
                None => (None, None),
            };
            self.link = Link::Closed;
            match unsent {
                Some(r) if attempt == 0 && !fresh => pending = Some(r),
                _ => {
                    let what = error.as_ref().map_or_else(
                        || (FailureKind::Connection, "connection closed".to_string()),
                        classify,
                    );
                    return Err(failure(what, None, None));
                }
            }
        }
        let Some(response) = response else {
            return Err(failure(
                (FailureKind::Connection, "connection closed".to_string()),
                None,
                None,
            ));
        };
        let head_at = started.elapsed();
        *ttfb = Some(head_at);
        let (parts, mut body) = response.into_parts();
        let mut bytes = 0u64;
        let mut collected = want_body.then(BytesMut::new);
        // The whole body in one poll loop: drive the connection, take what it delivered.
        let read = poll_fn(|cx| {
            loop {
                let frame = ready!(
                    self.link
                        .poll_with(cx, |cx| Pin::new(&mut body).poll_frame(cx))
                );
                match frame {
                    None => return Poll::Ready(Err(None)),
                    Some(None) => return Poll::Ready(Ok(())),
                    Some(Some(Err(e))) => return Poll::Ready(Err(Some(e))),
                    Some(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            bytes += data.len() as u64;
                            if let Some(buf) = collected.as_mut() {
                                buf.extend_from_slice(&data);
                            }
                        }
                    }
                }
            }
        })
        .await;
        match read {
            Ok(()) => {}
            Err(Some(e)) => return Err(failure(classify(&e), None, None)),
            Err(None) => {
                return Err(failure(
                    (
                        FailureKind::Protocol,
                        "connection closed before the response was complete".to_string(),
                    ),
                    None,
                    None,
                ));
            }
        }
        Ok(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body: collected.map(BytesMut::freeze),
            bytes,
            ttfb: head_at,
            connect: *connect,
        })
    }
}

/// Start HTTP/1.1 on a connected stream (no network I/O).
async fn activate(stream: Stream) -> Result<Link, HttpFailure> {
    Link::activate(stream).await.map_err(|e| HttpFailure {
        kind: FailureKind::Connection,
        message: format!("HTTP handshake: {e}"),
        ttfb: None,
        connect: None,
    })
}

fn failure(
    (kind, message): (FailureKind, String),
    ttfb: Option<Duration>,
    connect: Option<Duration>,
) -> HttpFailure {
    HttpFailure {
        kind,
        message,
        ttfb,
        connect,
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        _ => e.to_string(),
    }
}

/// Map a hyper error to a failure kind and a message that groups well.
fn classify(e: &hyper::Error) -> (FailureKind, String) {
    use std::error::Error as _;
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return (
            FailureKind::Protocol,
            format!("malformed HTTP response: {e}"),
        );
    }
    if e.is_incomplete_message() {
        return (
            FailureKind::Protocol,
            "connection closed before the response was complete".to_string(),
        );
    }
    if e.is_timeout() {
        return (FailureKind::Timeout, e.to_string());
    }
    if let Some(io) = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()) {
        return (FailureKind::Connection, io_message(io));
    }
    if e.is_closed() || e.is_canceled() {
        return (FailureKind::Connection, "connection closed".to_string());
    }
    if e.is_body_write_aborted() || e.is_user() {
        return (FailureKind::Other, e.to_string());
    }
    (FailureKind::Protocol, e.to_string())
}
