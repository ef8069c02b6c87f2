//! Body wrappers of one connection: the request body's deadline, and the response body that
//! tells the connection's [`Watch`] when the response is done.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use crate::metrics::Metrics;
use crate::server::watch::{TimeoutKind, Watch};

/// The request body did not arrive within the body read timeout; the API answers 408.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {0:?} of its head")]
pub struct BodyTimeout(pub Duration);

/// A request body that fails with [`BodyTimeout`] once `timeout` has passed since the head,
/// however the bytes trickle in: the timeout bounds the whole body, not the gaps between reads.
#[derive(Debug)]
pub struct DeadlineBody<B> {
    body: B,
    sleep: Pin<Box<Sleep>>,
    timeout: Duration,
    metrics: Arc<Metrics>,
    fired: bool,
}

impl<B> DeadlineBody<B> {
    /// Starts the clock now.
    pub fn new(body: B, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        DeadlineBody {
            body,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            metrics,
            fired: false,
        }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        if self.fired {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(self.timeout)))));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.fired = true;
            self.metrics
                .connections
                .count_timeout(TimeoutKind::RequestBody);
            tracing::debug!(timeout = ?self.timeout, "request body timed out");
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(self.timeout)))));
        }
        Pin::new(&mut self.body)
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        !self.fired && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether a body error (anywhere in its `source` chain) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimeout>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A response body that marks its request finished when hyper drops it (sent or abandoned).
#[derive(Debug)]
pub struct ResponseBody<B> {
    body: B,
    watch: Arc<Watch>,
}

impl<B> ResponseBody<B> {
    /// Wraps `body`.
    pub fn new(body: B, watch: Arc<Watch>) -> Self {
        ResponseBody { body, watch }
    }
}

impl<B> Drop for ResponseBody<B> {
    fn drop(&mut self) {
        self.watch.request_finished();
    }
}

impl<B> HttpBody for ResponseBody<B>
where
    B: HttpBody + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
