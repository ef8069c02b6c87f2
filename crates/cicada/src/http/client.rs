//! One simulated user's HTTP/1.1 client: a single keep-alive connection driven by hyper's
//! low-level `client::conn::http1` API, reopened when the server closes it or when it reaches
//! its maximum lifetime. Every failure is classified, never a panic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cicada_report::model::FailureKind;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::cookies::CookieJar;
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
    sender: Option<SendRequest<Full<Bytes>>>,
    opened: Instant,
    pub cookies: CookieJar,
}

impl UserClient {
    pub fn new(settings: Arc<ClientSettings>) -> Self {
        Self {
            settings,
            sender: None,
            opened: Instant::now(),
            cookies: CookieJar::default(),
        }
    }

    /// Settings this client uses.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Drop the connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        self.sender = None;
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
                None => handshake(tcp).await,
                Some(tls) => {
                    let stream = tls
                        .connector
                        .connect(tls.server_name.clone(), tcp)
                        .await
                        .map_err(|e| fail(FailureKind::Other, format!("TLS handshake: {e}")))?;
                    handshake(stream).await
                }
            }
        };
        let sender = tokio::time::timeout(s.connect_timeout, connecting)
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
        self.sender = Some(sender);
        self.opened = Instant::now();
        Ok(started.elapsed())
    }

    /// Send a request and read the response (the whole body when `want_body`, else counting
    /// its bytes), all within the request timeout (one timer per request); a new connection's
    /// connect is also bounded by the connect timeout. A request that a reused connection could
    /// not take (the server had closed it) is sent once more on a fresh connection, as browsers
    /// do.
    pub async fn send(
        &mut self,
        mut request: http::Request<Full<Bytes>>,
        want_body: bool,
    ) -> Result<HttpResponse, HttpFailure> {
        let expired = self
            .settings
            .max_connection_lifetime
            .is_some_and(|max| self.opened.elapsed() >= max);
        if expired || self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
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
        let mut connect = None;
        let mut ttfb = None;
        let result = tokio::time::timeout(
            timeout,
            self.exchange(request, want_body, started, &mut connect, &mut ttfb),
        )
        .await;
        match result {
            Ok(Ok(response)) => {
                self.cookies.store(&response.headers);
                Ok(response)
            }
            Ok(Err(mut f)) => {
                self.sender = None;
                f.connect = connect;
                f.ttfb = ttfb;
                Err(f)
            }
            Err(_) => {
                // The connection is in an unknown state: never reuse it.
                self.sender = None;
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
            let fresh = self.sender.is_none();
            if fresh {
                let took = self.connect().await?;
                *connect = Some(connect.unwrap_or_default() + took);
            }
            let sender = self.sender.as_mut().expect("connected above");
            let request = pending.take().expect("a request to send");
            let sent = match sender.ready().await {
                Err(e) => Err((e, Some(request))),
                Ok(()) => sender.try_send_request(request).await.map_err(|mut e| {
                    let unsent = e.take_message();
                    (e.into_error(), unsent)
                }),
            };
            match sent {
                Ok(r) => {
                    response = Some(r);
                    break;
                }
                Err((e, unsent)) => {
                    self.sender = None;
                    match unsent {
                        Some(r) if attempt == 0 && !fresh => pending = Some(r),
                        _ => return Err(failure(classify(&e), None, None)),
                    }
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
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| failure(classify(&e), None, None))?;
            if let Ok(data) = frame.into_data() {
                bytes += data.len() as u64;
                if let Some(buf) = collected.as_mut() {
                    buf.extend_from_slice(&data);
                }
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

async fn handshake<I>(io: I) -> Result<SendRequest<Full<Bytes>>, HttpFailure>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| HttpFailure {
            kind: FailureKind::Connection,
            message: format!("HTTP handshake: {e}"),
            ttfb: None,
            connect: None,
        })?;
    tokio::spawn(async move {
        // Errors surface on the request that was in flight; nothing to do here.
        let _ = conn.await;
    });
    Ok(sender)
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
