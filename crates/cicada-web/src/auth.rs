//! The token a server bound to a non-loopback address requires: `Authorization: Bearer TOKEN`
//! (curl, scripts) or HTTP Basic with the token as the password (a browser asks for it once and
//! sends it with every request of the page, so the page itself never holds or shows it).
//! Compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The required token, if any.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("required", &self.token.is_some())
            .finish()
    }
}

impl Auth {
    /// No token: every request is let in (loopback only; see [`crate::bind`]).
    pub fn open() -> Self {
        Self { token: None }
    }

    /// Requests must carry `token`.
    pub fn token(token: &str) -> Self {
        Self {
            token: Some(Arc::from(token.as_bytes())),
        }
    }

    pub fn is_required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `headers` carry the token (always true without one).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let given: Vec<u8> = if let Some(bearer) = value.strip_prefix("Bearer ") {
            bearer.trim().as_bytes().to_vec()
        } else if let Some(basic) = value.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .unwrap_or_default();
            // user:password; the user name is free, the password is the token.
            match decoded.iter().position(|b| *b == b':') {
                Some(at) => decoded[at + 1..].to_vec(),
                None => return false,
            }
        } else {
            return false;
        };
        bool::from(given.as_slice().ct_eq(token))
    }
}

/// Middleware: 401 with a Basic challenge unless the request carries the token.
pub async fn require(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    if auth.allows(request.headers()) {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({
            "error": "this server requires its token: Authorization: Bearer TOKEN (or HTTP Basic with the token as the password)"
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"cicada\", charset=\"UTF-8\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        let auth = Auth::token("s3cret");
        assert!(auth.allows(&with("Bearer s3cret")));
        let basic = base64::engine::general_purpose::STANDARD.encode("any:s3cret");
        assert!(auth.allows(&with(&format!("Basic {basic}"))));
        assert!(!auth.allows(&with("Bearer s3cre")));
        assert!(!auth.allows(&with("Bearer s3cret2")));
        assert!(!auth.allows(&HeaderMap::new()));
        assert!(Auth::open().allows(&HeaderMap::new()));
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
