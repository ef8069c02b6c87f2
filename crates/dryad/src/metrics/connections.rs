//! The HTTP server's connection metrics: open and accepted connections, the timeouts that
//! closed them, and those still open at the shutdown deadline.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::{gauge, header};
use crate::server::watch::TimeoutKind;

/// Counters of the accept loop and its connections.
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    open: AtomicI64,
    accepted: AtomicU64,
    /// By [`TimeoutKind::ALL`] order.
    timeouts: [AtomicU64; 3],
    closed_at_shutdown: AtomicU64,
}

fn slot(kind: TimeoutKind) -> usize {
    match kind {
        TimeoutKind::RequestHead => 0,
        TimeoutKind::RequestBody => 1,
        TimeoutKind::KeepAliveIdle => 2,
    }
}

impl ConnectionCounters {
    /// A connection was accepted (and is open until [`ConnectionCounters::closed`]).
    pub fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed, for whatever reason.
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> i64 {
        self.open.load(Ordering::Relaxed)
    }

    /// A timeout ended a request (body) or a connection (head, idle).
    pub fn count_timeout(&self, kind: TimeoutKind) {
        self.timeouts[slot(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// How many times `kind` fired.
    pub fn timeouts(&self, kind: TimeoutKind) -> u64 {
        self.timeouts[slot(kind)].load(Ordering::Relaxed)
    }

    /// `n` connections were still open at the shutdown deadline and were closed.
    pub fn count_closed_at_shutdown(&self, n: u64) {
        self.closed_at_shutdown.fetch_add(n, Ordering::Relaxed);
    }

    /// Appends the exposition.
    pub fn render(&self, out: &mut String) {
        gauge(
            out,
            "dryad_http_connections_open",
            "HTTP connections open.",
            self.open(),
        );
        header(
            out,
            "dryad_http_connections_total",
            "counter",
            "HTTP connections accepted.",
        );
        let _ = writeln!(
            out,
            "dryad_http_connections_total {}",
            self.accepted.load(Ordering::Relaxed)
        );
        header(
            out,
            "dryad_http_timeouts_total",
            "counter",
            "Timeouts, by phase: request_head and keep_alive_idle close the connection, \
             request_body answers 408 and closes it.",
        );
        for kind in TimeoutKind::ALL {
            let _ = writeln!(
                out,
                "dryad_http_timeouts_total{{phase=\"{}\"}} {}",
                kind.label(),
                self.timeouts(kind)
            );
        }
        header(
            out,
            "dryad_http_connections_closed_at_shutdown_total",
            "counter",
            "Connections still open when the shutdown deadline passed, closed by force.",
        );
        let _ = writeln!(
            out,
            "dryad_http_connections_closed_at_shutdown_total {}",
            self.closed_at_shutdown.load(Ordering::Relaxed)
        );
    }
}
