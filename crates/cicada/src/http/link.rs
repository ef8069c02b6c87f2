//! A user's link to the target: closed, active (hyper's HTTP/1.1 connection state, driven in the
//! user's own task — no connection task, no cross-task wake-ups per request), or parked (only the
//! open TCP/TLS stream, kept while the user waits a long time).
//!
//! hyper's `client::conn::http1::Connection` is a future that does all the I/O; it is usually
//! spawned as its own task. Here it is polled together with whatever the user waits on (the
//! response head, the body), so one request costs one task's polls. Parking takes the stream
//! back with `Connection::into_parts` once hyper has closed its side cleanly: that frees the
//! dispatch channel and the two 8 KiB buffers (~25 KB) while the TCP connection stays open, and
//! the next request re-runs hyper's handshake on the same stream, which does no network I/O.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;

use super::stream::Stream;

type Conn = Connection<TokioIo<Stream>, Full<Bytes>>;

/// hyper's two halves of one connection, both owned by the user.
#[derive(Debug)]
pub struct Active {
    pub sender: SendRequest<Full<Bytes>>,
    conn: Conn,
}

/// The state of a user's connection.
#[derive(Debug, Default)]
pub enum Link {
    #[default]
    Closed,
    /// Boxed: hyper's connection state is large, and a parked or closed link should not pay
    /// for it inside the user's future.
    Active(Box<Active>),
    Parked(Stream),
}

impl Link {
    /// Start HTTP/1.1 on a connected stream. No network I/O happens here.
    pub async fn activate(stream: Stream) -> Result<Link, hyper::Error> {
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        Ok(Link::Active(Box::new(Active { sender, conn })))
    }

    /// Keep only the stream. Done when hyper's side is idle: no request in flight, the last
    /// body read to its end. If the server sent anything unasked for, or hyper does not finish
    /// cleanly, the connection is closed instead (the next request opens a new one).
    pub fn park(&mut self) {
        let Link::Active(active) = std::mem::take(self) else {
            return;
        };
        let Active { sender, mut conn } = *active;
        // With the sender gone, an idle dispatcher finishes at once, without waiting for I/O.
        drop(sender);
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(Ok(())) = conn.poll_without_shutdown(&mut cx) {
            let parts = conn.into_parts();
            if parts.read_buf.is_empty() {
                *self = Link::Parked(parts.io.into_inner());
            }
        }
    }

    /// Wait until the active connection can take a request, driving it meanwhile (which also
    /// lets it notice that the server closed it). False if it cannot: the link is then closed.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let Link::Active(active) = self else {
            return Poll::Ready(false);
        };
        let ready = if active.conn.poll_without_shutdown(cx).is_ready() {
            Poll::Ready(false)
        } else {
            active.sender.poll_ready(cx).map(|r| r.is_ok())
        };
        if ready == Poll::Ready(false) {
            *self = Link::Closed;
        }
        ready
    }

    /// Poll `f` (a response or body future) while driving the connection in the same task:
    /// `f` first (what the connection already delivered needs no connection poll), then the
    /// connection, then `f` again. When the connection ends — the server closed it, an error —
    /// it is dropped, which resolves anything still waiting on it; `None` if `f` cannot finish
    /// even then.
    pub fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<Option<T>> {
        if let Poll::Ready(v) = f(cx) {
            return Poll::Ready(Some(v));
        }
        let ended = match self {
            Link::Active(active) => active.conn.poll_without_shutdown(cx).is_ready(),
            _ => true,
        };
        if ended {
            *self = Link::Closed;
        }
        match f(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if ended => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The active connection's sender.
    pub fn sender(&mut self) -> Option<&mut SendRequest<Full<Bytes>>> {
        match self {
            Link::Active(active) => Some(&mut active.sender),
            _ => None,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self, Link::Closed)
    }

    pub fn is_parked(&self) -> bool {
        matches!(self, Link::Parked(_))
    }
}

/// Poll a pinned future through [`Link::poll_with`].
pub fn poll_future<F: Future>(
    link: &mut Link,
    cx: &mut Context<'_>,
    fut: Pin<&mut F>,
) -> Poll<Option<F::Output>> {
    let mut fut = fut;
    link.poll_with(cx, |cx| fut.as_mut().poll(cx))
}
