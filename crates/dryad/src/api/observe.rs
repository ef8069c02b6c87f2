//! The middleware every route runs through: `Server-Timing`, request metrics, in-flight gauge,
//! and logging of 5xx causes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorCause;
use crate::state::AppState;
use crate::timing::RequestTiming;

/// Route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Holds the in-flight gauge up for as long as the request lives (also when the client goes
/// away and the handler future is dropped).
struct InFlight(std::sync::Arc<crate::metrics::Metrics>);

impl InFlight {
    fn enter(state: &AppState) -> Self {
        state.metrics.add_in_flight(1);
        InFlight(state.metrics.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.add_in_flight(-1);
    }
}

/// Wraps one request.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let timing = RequestTiming::default();
    request.extensions_mut().insert(timing.clone());
    let in_flight = InFlight::enter(&state);
    let mut response = next.run(request).await;
    drop(in_flight);
    let took = start.elapsed();
    let status = response.status();
    if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
        tracing::error!(%method, %route, status = status.as_u16(), cause = %cause, "request failed");
    }
    if let Ok(v) = HeaderValue::from_str(&timing.header_value(took)) {
        response.headers_mut().insert("server-timing", v);
    }
    state
        .metrics
        .observe_request(&method, &route, status.as_u16(), took);
    response
}
