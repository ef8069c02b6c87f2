//! Limits on the request head, answered with 431 in the JSON error shape.
//!
//! hyper refuses a head it cannot parse within its own limits with a bare 431 (no body); the
//! server configures hyper's limits above these (see [`crate::server`]) so that every head
//! this service refuses gets the same JSON error as any other 4xx.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::error::ApiError;

/// Most header fields in one request.
pub const MAX_HEADERS: usize = 100;
/// Most bytes of header fields in one request (names, values and `": "` + CRLF per field).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses a request whose head is over [`MAX_HEADERS`] or [`MAX_HEADER_BYTES`].
pub async fn header_limits(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let count = headers.len();
    if count > MAX_HEADERS {
        return ApiError::HeadersTooLarge(format!(
            "{count} header fields; at most {MAX_HEADERS} are accepted"
        ))
        .into_response();
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge(format!(
            "{bytes} bytes of header fields; at most {MAX_HEADER_BYTES} are accepted"
        ))
        .into_response();
    }
    next.run(request).await
}
