//! The `Authorization: Bearer …` extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of an agent-studio route.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id (token `sub`).
    pub user_id: String,
    /// Username (token `name`).
    pub username: String,
}

fn unauthorized(code: &'static str, detail: &str) -> ApiError {
    ApiError::Unauthorized {
        code,
        detail: detail.to_owned(),
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            unauthorized("missing_token", "Authorization: Bearer <token> is required")
        })?;
        let value = header
            .to_str()
            .map_err(|_| unauthorized("invalid_token", "Authorization header is not ASCII"))?;
        let (scheme, token) = value.split_once(' ').ok_or_else(|| {
            unauthorized("invalid_token", "Authorization must be 'Bearer <token>'")
        })?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(unauthorized(
                "invalid_token",
                "Authorization must be 'Bearer <token>'",
            ));
        }
        let claims = state.tokens.verify(token.trim())?;
        Ok(AuthUser {
            user_id: claims.sub,
            username: claims.name,
        })
    }
}
