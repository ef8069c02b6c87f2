//! `POST /api/v1/auth/login`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Extension;
use axum::extract::{ConnectInfo, State};

use crate::db::users;
use crate::error::{ApiError, retry_after_secs};
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
        (status = 429, description = "Too many failed logins for this username (`too_many_failed_logins`) or from this client address (`too_many_failed_logins_from_address`), before any password is checked; retry after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until an attempt is accepted again"))),
        (status = 503, description = "Every password-hashing permit is taken and the queue in front of them is full (`login_queue_full`, with `Retry-After`), or the database is out of reach or its pool exhausted (`service_unavailable`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the hashing queue should have room (sent with `login_queue_full`)"))),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<LoginRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    req.validate().map_err(ApiError::InvalidBody)?;
    let address = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    if let Err(t) = state.throttle.check(&req.username, address, Instant::now()) {
        state.metrics.count_login_throttled(Some(t.reason));
        let code = match t.reason {
            crate::auth::ThrottleReason::Username => "too_many_failed_logins",
            crate::auth::ThrottleReason::Address => "too_many_failed_logins_from_address",
        };
        let secs = retry_after_secs(t.retry_after);
        return Err(ApiError::TooManyRequests {
            code,
            detail: format!(
                "too many failed logins {}; retry in {secs} s",
                match t.reason {
                    crate::auth::ThrottleReason::Username => "for this username",
                    crate::auth::ThrottleReason::Address => "from this address",
                }
            ),
            retry_after_secs: secs,
        });
    }
    let user = {
        let mut conn = state.db.acquire(&timing).await?;
        timing
            .db(users::find_by_username(&mut conn, &req.username))
            .await?
    };
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let ok = match state.hasher.verify(req.password, phc).await {
        Ok(ok) => ok,
        Err(e) => {
            if matches!(e, crate::auth::PasswordError::Busy { .. }) {
                state.metrics.count_login_throttled(None);
            }
            return Err(e.into());
        }
    };
    state.metrics.count_login(ok);
    if !ok {
        state
            .throttle
            .record_failure(&req.username, address, Instant::now());
    }
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
