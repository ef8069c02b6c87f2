//! `POST /api/v1/auth/login`.

use axum::Extension;
use axum::extract::State;

use crate::db::users;
use crate::error::ApiError;
use crate::extract::Json;
use crate::model::{ErrorBody, LoginRequest, TokenResponse};
use crate::state::AppState;
use crate::timing::RequestTiming;

const BAD_CREDENTIALS: &str = "invalid username or password";

/// Exchanges a username and password for a bearer token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password (same message)", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the body read timeout (the connection is closed)", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Body of the wrong shape, a field too long, NUL in the username", body = ErrorBody),
        (status = 503, description = "Database out of reach or its pool exhausted", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    Json(req): Json<LoginRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    req.validate().map_err(ApiError::InvalidBody)?;
    let user = {
        let mut conn = state.db.acquire(&timing).await?;
        timing
            .db(users::find_by_username(&mut conn, &req.username))
            .await?
    };
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.hasher.verify(req.password, phc).await?;
    state.metrics.count_login(ok);
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::Unauthorized {
            code: "invalid_credentials",
            detail: BAD_CREDENTIALS.to_owned(),
        });
    };
    let access_token = state.tokens.issue(&user.id, &user.username)?;
    Ok(axum::Json(TokenResponse {
        access_token,
        token_type: "bearer".to_owned(),
        expires_in: state.tokens.ttl().as_secs(),
    }))
}
