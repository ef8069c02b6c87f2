//! One simulated user's HTTP/1.1 client: a single keep-alive connection owned by the user's own
//! task (no connection task, no channel), its request written into a reused buffer and sent in
//! one write, its response decoded in place from a reused read buffer ([`super::decode`]).
//! Parked during long waits (only the stream is kept), reopened when the server closes it or
//! when it reaches its maximum lifetime. Every failure is classified, never a panic.

use std::future::poll_fn;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use cicada_report::model::FailureKind;
use http::Method;
use tokio::net::TcpSocket;

use super::conn::{Conn, ReadError};
use super::cookies::CookieJar;
use super::decode::{Decoder, Limits, Malformed};
use super::request::{self, Prepared, RequestError, RequestWriter};
use super::response::{Received, ResponseView};
use super::stream::Stream;
use super::tls::TlsSetup;
use crate::duration::format_duration;
use crate::stats::ServerTimes;
use crate::target::Target;

/// Settings shared by every user's client.
#[derive(Debug)]
pub struct ClientSettings {
    pub target: Target,
    /// The resolved address of the target.
    pub addr: SocketAddr,
    /// The `Host` header's value.
    pub host: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connection_lifetime: Option<Duration>,
    pub tls: Option<TlsSetup>,
    /// Bounds of response heads and of bodies kept for checks and captures.
    pub limits: Limits,
    /// Local addresses new connections are opened from, in turn (empty: the system's
    /// choice). One source address has about 28,000 ephemeral ports to one destination;
    /// several (e.g. `127.0.0.2`, `127.0.0.3` on loopback) allow more connections.
    pub local_addrs: Vec<IpAddr>,
    /// The next of `local_addrs` to use (connections take them in turn).
    pub next_local: AtomicUsize,
}

impl ClientSettings {
    /// Settings with the default limits and no local address.
    pub fn new(target: Target, addr: SocketAddr) -> Self {
        Self {
            host: target.authority.clone(),
            target,
            addr,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_connection_lifetime: None,
            tls: None,
            limits: Limits::default(),
            local_addrs: Vec::new(),
            next_local: AtomicUsize::new(0),
        }
    }

    fn local_addr(&self) -> Option<IpAddr> {
        if self.local_addrs.is_empty() {
            return None;
        }
        let i = self.next_local.fetch_add(1, Ordering::Relaxed);
        Some(self.local_addrs[i % self.local_addrs.len()])
    }
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

/// What one request measured; the response itself is read through
/// [`UserClient::response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub status: u16,
    /// Body bytes received.
    pub bytes: u64,
    /// Time to the complete response head.
    pub ttfb: Duration,
    /// Connect time (TCP and TLS) if this request opened a connection.
    pub connect: Option<Duration>,
    /// The `db`/`pool`/`app` entries of the response's `Server-Timing` headers.
    pub server: Option<ServerTimes>,
}

/// A user's connection and cookies.
#[derive(Debug)]
pub struct UserClient {
    settings: Arc<ClientSettings>,
    conn: Option<Conn>,
    /// The request being written (reused).
    out: Vec<u8>,
    head_request: bool,
    has_content_type: bool,
    received: Received,
    /// When the last response ended: a connection idle for a while is checked before reuse.
    last_done: Instant,
    /// The request timer, made on the first request and kept: it is only re-armed when it
    /// fires before the current request's deadline (at most once per request timeout).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    pub cookies: CookieJar,
}

/// A wait at least this long before the next request parks the user's connection (keeps the
/// TCP/TLS stream, frees the buffers). Re-activating costs one allocation and one read that
/// finds nothing, no network I/O; shorter waits (and back-to-back requests) keep the
/// connection active and pay nothing.
pub const PARK_AFTER: Duration = Duration::from_millis(50);

/// A connection idle at least this long is checked before it carries a request (a read that
/// must find nothing): a server may have closed it, or sent bytes nobody asked for.
/// Back-to-back requests skip the check.
const CHECK_IDLE_AFTER: Duration = Duration::from_millis(1);

impl UserClient {
    pub fn new(settings: Arc<ClientSettings>) -> Self {
        Self {
            settings,
            conn: None,
            out: Vec::new(),
            head_request: false,
            has_content_type: false,
            received: Received::default(),
            last_done: Instant::now(),
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
        self.conn = None;
    }

    /// The user is about to wait `pause`: if that is long ([`PARK_AFTER`]), keep only the open
    /// stream while it waits. A connection past its maximum lifetime, closed by the server or
    /// with bytes nobody asked for is closed instead.
    pub fn before_wait(&mut self, pause: Duration) {
        if pause < PARK_AFTER {
            return;
        }
        if self.expired() || !self.conn.as_mut().is_some_and(Conn::park) {
            self.conn = None;
        }
        self.out = Vec::new();
        self.received.release();
    }

    /// Whether the connection is parked (open stream, no buffers).
    pub fn is_parked(&self) -> bool {
        self.conn.as_ref().is_some_and(Conn::is_parked)
    }

    /// The last response (status, headers, the body when it was asked for, an excerpt).
    pub fn response(&self) -> ResponseView<'_> {
        self.received.view()
    }

    fn expired(&self) -> bool {
        self.settings.max_connection_lifetime.is_some_and(|max| {
            self.conn
                .as_ref()
                .is_some_and(|c| c.opened.elapsed() >= max)
        })
    }

    /// Start writing a request: `target` (path and query) when it was rendered for this
    /// request, else the prepared one. Add headers to the writer, then [`UserClient::send`].
    pub fn request(
        &mut self,
        prepared: &Prepared,
        method: &Method,
        target: Option<&str>,
    ) -> Result<RequestWriter<'_>, RequestError> {
        self.head_request = *method == Method::HEAD;
        request::start(
            &mut self.out,
            prepared,
            method,
            &self.settings.host,
            target,
            &mut self.has_content_type,
        )
    }

    /// A whole request in one call (tests, custom steps): `method target`, `headers`, an
    /// optional `(body, content type)`.
    pub async fn call(
        &mut self,
        method: &Method,
        target: &str,
        headers: &[(&str, &[u8])],
        body: Option<(&[u8], &[u8])>,
        want_body: bool,
    ) -> Result<Exchange, HttpFailure> {
        let written = self
            .request(&Prepared::default(), method, Some(target))
            .and_then(|mut w| headers.iter().try_for_each(|(n, v)| w.header(n, v)));
        if let Err(e) = written {
            return Err(failure((FailureKind::Other, e.to_string()), None, None));
        }
        self.send(body, want_body).await
    }

    /// Finish the request started with [`UserClient::request`] (the `Cookie` header, the body)
    /// and send it; read the response (keeping the body when `want_body`, else counting it),
    /// all within the request timeout (one timer per user); a new connection's connect is
    /// also bounded by the connect timeout. A request on a reused connection that the server
    /// closed before answering anything is sent once more on a fresh connection, as browsers
    /// do.
    pub async fn send(
        &mut self,
        body: Option<(&[u8], &[u8])>,
        want_body: bool,
    ) -> Result<Exchange, HttpFailure> {
        request::finish(
            &mut self.out,
            self.has_content_type,
            self.cookies.header(),
            body,
        );
        if self.expired() {
            self.conn = None;
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
            let mut exchange = pin!(self.exchange(want_body, started, &mut connect, &mut ttfb));
            poll_fn(|cx| {
                if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                // The user's timer is only moved when it fires before this request's
                // deadline (it was set by an earlier request): no timer-wheel work per request.
                while timer.as_mut().poll(cx).is_ready() {
                    if timer.deadline() >= deadline {
                        return Poll::Ready(None);
                    }
                    timer.as_mut().reset(deadline);
                }
                Poll::Pending
            })
            .await
        };
        self.timer = Some(timer);
        match result {
            Some(Ok(())) => {
                let view = self.received.view();
                self.cookies.store(view.header_all("set-cookie"));
                let mut server = ServerTimes::default();
                let mut any = false;
                for value in view.header_all("server-timing") {
                    if let Ok(text) = std::str::from_utf8(value) {
                        server.add_header(text);
                        any = true;
                    }
                }
                let server =
                    (any && (server.db_us.is_some() || server.pool_us.is_some())).then_some(server);
                Ok(Exchange {
                    status: view.status(),
                    bytes: view.bytes(),
                    ttfb: ttfb.unwrap_or_default(),
                    connect,
                    server,
                })
            }
            Some(Err(what)) => {
                self.conn = None;
                Err(failure(what, ttfb, connect))
            }
            None => {
                // The connection is in an unknown state: never reuse it.
                self.conn = None;
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

    /// Make the connection ready: open one if there is none, take a parked or idle one back
    /// after checking it is still good. Returns whether it is new (a request it cannot take
    /// is not sent again).
    async fn ready(
        &mut self,
        started: Instant,
        connect: &mut Option<Duration>,
    ) -> Result<bool, (FailureKind, String)> {
        if let Some(conn) = self.conn.as_mut() {
            let idle = conn.is_parked() || started >= self.last_done + CHECK_IDLE_AFTER;
            if !idle || conn.idle_and_open() {
                conn.unpark();
                return Ok(false);
            }
            self.conn = None;
        }
        // Boxed: connecting (TCP, TLS) is rare and its future is large; kept inline it would
        // make every user's task that much bigger for its whole life.
        let (conn, took) = Box::pin(open(&self.settings)).await?;
        self.conn = Some(conn);
        *connect = Some(connect.unwrap_or_default() + took);
        Ok(true)
    }

    async fn exchange(
        &mut self,
        want_body: bool,
        started: Instant,
        connect: &mut Option<Duration>,
        ttfb: &mut Option<Duration>,
    ) -> Result<(), (FailureKind, String)> {
        let limits = self.settings.limits;
        for attempt in 0..2 {
            let fresh = self.ready(started, connect).await?;
            let retry = !fresh && attempt == 0;
            let conn = self.conn.as_mut().expect("a connection after ready");
            if let Err(e) = conn.write(&self.out).await {
                self.conn = None;
                if retry && ReadError::Io(e).nothing_received() {
                    continue;
                }
                return Err((FailureKind::Connection, "connection closed".to_string()));
            }
            self.received.reset(want_body);
            let mut decoder = Decoder::new(self.head_request, limits);
            let read = conn
                .read_response(
                    &mut decoder,
                    &mut self.received,
                    limits.max_head,
                    started,
                    ttfb,
                )
                .await;
            match read {
                Ok(finished) => {
                    if !finished.reusable {
                        self.conn = None;
                    }
                    self.last_done = Instant::now();
                    return Ok(());
                }
                Err(e) => {
                    self.conn = None;
                    if retry && e.nothing_received() {
                        continue;
                    }
                    return Err(classify(e));
                }
            }
        }
        Err((
            FailureKind::Connection,
            "connection closed before any response".to_string(),
        ))
    }
}

/// Open a connection (TCP, then TLS when the target is HTTPS) within the connect timeout.
async fn open(s: &ClientSettings) -> Result<(Conn, Duration), (FailureKind, String)> {
    let started = Instant::now();
    let connecting = async {
        let tcp = tcp_connect(s).await.map_err(|e| {
            (
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
                .map_err(|e| (FailureKind::Other, format!("TLS handshake: {e}"))),
        }
    };
    let stream = tokio::time::timeout(s.connect_timeout, connecting)
        .await
        .map_err(|_| {
            (
                FailureKind::Timeout,
                format!(
                    "connect timed out after {}",
                    format_duration(s.connect_timeout)
                ),
            )
        })??;
    Ok((Conn::new(stream), started.elapsed()))
}

async fn tcp_connect(s: &ClientSettings) -> std::io::Result<tokio::net::TcpStream> {
    let Some(local) = s.local_addr() else {
        return tokio::net::TcpStream::connect(s.addr).await;
    };
    let socket = if s.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local, 0)).map_err(|e| {
        std::io::Error::new(e.kind(), format!("bind to local address {local}: {e}"))
    })?;
    socket.connect(s.addr).await
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

/// A failure kind and a message that groups well.
fn classify(e: ReadError) -> (FailureKind, String) {
    match e {
        ReadError::Io(e) => (FailureKind::Connection, io_message(&e)),
        ReadError::ClosedEarly => (
            FailureKind::Connection,
            "connection closed before any response".to_string(),
        ),
        ReadError::Truncated => (
            FailureKind::Protocol,
            "connection closed before the response was complete".to_string(),
        ),
        ReadError::Malformed(m @ Malformed::BodyTooLarge(_)) => (FailureKind::Other, m.to_string()),
        ReadError::Malformed(m) => (FailureKind::Protocol, m.to_string()),
    }
}
