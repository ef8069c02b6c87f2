//! The HTTP/1.1 server under the router: accepts connections, bounds how long a client may take
//! at each step, and shuts down gracefully within a deadline.
//!
//! `axum::serve` has no timeouts and waits for every connection at shutdown, so a client that
//! sends half a request head (slowloris) or trickles its body held a connection for as long as
//! it liked and kept the process from exiting after SIGTERM. Here each connection runs on
//! hyper's HTTP/1 connection API with a [`watch::Watch`] beside it:
//!
//! - the request head (request line and headers) must arrive within `head` of the connection's
//!   start or of its first byte after an idle spell, else the connection is closed;
//! - the request body must arrive within `body` of the head (a bound on the whole body, so a
//!   minimum average rate: 64 KiB in 15 s by default), else 408 and the connection closes;
//! - an idle keep-alive connection is closed after `keep_alive`;
//! - on shutdown the listener closes, idle connections close, in-flight requests finish, and
//!   whatever is still open after `shutdown` is closed so that the process can exit.
//!
//! Each timeout is counted on `/metrics` (`dryad_http_timeouts_total{phase}`) and logged at
//! debug level with the peer's address.

pub mod body;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::HttpBody as _;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::api::limits::{MAX_HEADER_BYTES, MAX_HEADERS};
use crate::metrics::Metrics;
use body::{DeadlineBody, ResponseBody};
use watch::{Watch, WatchedIo};

/// How long a client may take at each step, and how long shutdown may wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Request head, from the connection's start or its first byte after idling.
    pub head: Duration,
    /// Whole request body, from the head.
    pub body: Duration,
    /// Idle keep-alive connection.
    pub keep_alive: Duration,
    /// From the shutdown signal until the connections still open are closed.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            head: Duration::from_secs(10),
            body: Duration::from_secs(15),
            keep_alive: Duration::from_secs(75),
            shutdown: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains the connections
/// for at most [`Timeouts::shutdown`] and closes the rest. Returns once every connection is
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    let force = CancellationToken::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = Connection {
            router: router.clone(),
            timeouts,
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            force: force.clone(),
            peer,
        };
        connections.spawn(conn.run(tcp));
    }
    drop(listener);
    connections.close();
    let open = connections.len();
    tracing::info!(
        open,
        deadline = ?timeouts.shutdown,
        "stopped accepting; draining connections"
    );
    if tokio::time::timeout(timeouts.shutdown, connections.wait())
        .await
        .is_err()
    {
        let left = connections.len();
        tracing::warn!(
            connections = left,
            deadline = ?timeouts.shutdown,
            "shutdown deadline passed: closing the connections still open"
        );
        metrics
            .connections
            .count_closed_at_shutdown(u64::try_from(left).unwrap_or(u64::MAX));
        force.cancel();
        connections.wait().await;
    }
}

/// One accepted connection and what it needs.
struct Connection {
    router: Router,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    force: CancellationToken,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        // Responses are small: send them without waiting on Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        self.metrics.connections.opened();
        let watch = Arc::new(Watch::new(self.timeouts.head, self.timeouts.keep_alive));
        let io = TokioIo::new(WatchedIo::new(tcp, watch.clone()));
        let service = {
            let (router, watch, metrics) =
                (self.router.clone(), watch.clone(), self.metrics.clone());
            let (peer, body_timeout) = (self.peer, self.timeouts.body);
            hyper::service::service_fn(move |request: Request<Incoming>| {
                watch.request_started();
                // Only a body still to come needs a clock (and a timer entry).
                let mut request = request.map(|b| {
                    if b.is_end_stream() {
                        axum::body::Body::new(b)
                    } else {
                        axum::body::Body::new(DeadlineBody::new(b, body_timeout, metrics.clone()))
                    }
                });
                request.extensions_mut().insert(ConnectInfo(peer));
                let (router, watch) = (router.clone(), watch.clone());
                async move {
                    let response = router.oneshot(request).await?;
                    Ok::<_, std::convert::Infallible>(response.map(|b| ResponseBody::new(b, watch)))
                }
            })
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        // hyper's own limits sit above the router's (api::limits), which answer 431 in JSON;
        // hyper answers a bare 431 only to heads beyond these. Its header timeout would also
        // cover idle time between requests, so the watch keeps time instead.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_headers(2 * MAX_HEADERS)
            .max_header_size(2 * MAX_HEADER_BYTES);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                kind = watch.expired() => {
                    self.metrics.connections.count_timeout(kind);
                    tracing::debug!(peer = %self.peer, phase = kind.label(), "connection timed out: closing it");
                    break;
                }
                () = self.shutdown.cancelled(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = self.force.cancelled() => {
                    tracing::debug!(peer = %self.peer, phase = ?watch.phase(), "closed at the shutdown deadline");
                    break;
                }
            }
        }
        self.metrics.connections.closed();
    }
}
