//! What one connection is doing, and when it has waited too long at it.
//!
//! A connection is always in one [`Phase`]: waiting for a request head to complete (from the
//! connection's start, or from the first byte after an idle spell), being served (from the head
//! until the response body is done), or idle between requests. [`WatchedIo`] moves it from idle
//! to head on the first byte read; the service moves it to busy and, when the response body is
//! dropped, back to idle. [`Watch::expired`] resolves when the current phase has lasted longer
//! than its timeout; a busy connection never expires here (its body has its own deadline).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a connection is between or within requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading a request head (request line and headers), since this instant.
    Head(Instant),
    /// A request is being served.
    Busy,
    /// Idle between requests (keep-alive), since this instant.
    Idle(Instant),
}

/// The timeout that ended a connection: the `phase` label of
/// `dryad_http_timeouts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The request head did not arrive in time (slowloris).
    RequestHead,
    /// The request body did not arrive in time (answered 408).
    RequestBody,
    /// Idle between requests for too long.
    KeepAliveIdle,
}

impl TimeoutKind {
    /// Every kind, in label order.
    pub const ALL: [TimeoutKind; 3] = [
        TimeoutKind::RequestHead,
        TimeoutKind::RequestBody,
        TimeoutKind::KeepAliveIdle,
    ];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            TimeoutKind::RequestHead => "request_head",
            TimeoutKind::RequestBody => "request_body",
            TimeoutKind::KeepAliveIdle => "keep_alive_idle",
        }
    }
}

/// One connection's phase, shared by its IO, its service and its task.
#[derive(Debug)]
pub struct Watch {
    phase: Mutex<Phase>,
    changed: Notify,
    head_timeout: Duration,
    idle_timeout: Duration,
}

impl Watch {
    /// A connection that just opened: its first head is due within `head_timeout`.
    pub fn new(head_timeout: Duration, idle_timeout: Duration) -> Self {
        Watch {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            head_timeout,
            idle_timeout,
        }
    }

    fn set(&self, next: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = next(*phase) {
            *phase = p;
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: an idle connection starts reading a head.
    pub fn bytes_read(&self) {
        self.set(|p| match p {
            Phase::Idle(_) => Some(Phase::Head(Instant::now())),
            Phase::Head(_) | Phase::Busy => None,
        });
    }

    /// A head was parsed and handed to the service.
    pub fn request_started(&self) {
        self.set(|_| Some(Phase::Busy));
    }

    /// The response was sent (its body dropped): the connection idles.
    pub fn request_finished(&self) {
        self.set(|p| match p {
            Phase::Busy => Some(Phase::Idle(Instant::now())),
            Phase::Head(_) | Phase::Idle(_) => None,
        });
    }

    fn deadline(&self) -> Option<(Instant, TimeoutKind)> {
        match self.phase() {
            Phase::Head(since) => Some((since + self.head_timeout, TimeoutKind::RequestHead)),
            Phase::Idle(since) => Some((since + self.idle_timeout, TimeoutKind::KeepAliveIdle)),
            Phase::Busy => None,
        }
    }

    /// Resolves once the current phase has outlived its timeout, with which one.
    pub async fn expired(&self) -> TimeoutKind {
        loop {
            match self.deadline() {
                Some((at, kind)) if at <= Instant::now() => return kind,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// A byte stream that tells its [`Watch`] when bytes arrive.
#[derive(Debug)]
pub struct WatchedIo<T> {
    inner: T,
    watch: std::sync::Arc<Watch>,
}

impl<T> WatchedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, watch: std::sync::Arc<Watch>) -> Self {
        WatchedIo { inner, watch }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_phase_expires_after_its_own_timeout() {
        let w = Arc::new(Watch::new(Duration::from_secs(10), Duration::from_secs(60)));
        // A fresh connection owes its first head within the head timeout.
        let start = Instant::now();
        assert_eq!(w.expired().await, TimeoutKind::RequestHead);
        assert_eq!(start.elapsed(), Duration::from_secs(10));

        // Busy never expires; finishing starts the idle clock; a byte starts the head clock.
        w.request_started();
        let waiter = tokio::spawn({
            let w = w.clone();
            async move { (w.expired().await, Instant::now()) }
        });
        tokio::time::sleep(Duration::from_secs(500)).await;
        assert!(!waiter.is_finished());
        w.request_finished();
        let idle_from = Instant::now();
        tokio::time::sleep(Duration::from_secs(30)).await;
        w.bytes_read();
        let head_from = Instant::now();
        let (kind, at) = waiter.await.unwrap();
        assert_eq!(kind, TimeoutKind::RequestHead);
        assert_eq!(at - head_from, Duration::from_secs(10));
        assert!(at - idle_from < Duration::from_secs(60));

        // Idle with no byte: the keep-alive timeout.
        w.request_started();
        w.request_finished();
        let idle_from = Instant::now();
        assert_eq!(w.expired().await, TimeoutKind::KeepAliveIdle);
        assert_eq!(idle_from.elapsed(), Duration::from_secs(60));
    }
}
