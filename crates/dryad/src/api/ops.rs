//! Operational routes: liveness, readiness, Prometheus metrics and the OpenAPI document.

use axum::Extension;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::OpenApi as _;

use crate::api::openapi::ApiDoc;
use crate::error::ApiError;
use crate::model::{ErrorBody, HealthResponse};
use crate::state::AppState;
use crate::timing::RequestTiming;

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "Alive", body = HealthResponse)))]
pub async fn health() -> axum::Json<HealthResponse> {
    axum::Json(HealthResponse {
        status: "ok".to_owned(),
    })
}

/// The database answers.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "Database unreachable", body = ErrorBody),
    ))]
pub async fn ready(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
) -> Result<axum::Json<HealthResponse>, ApiError> {
    state
        .db
        .ping(&timing)
        .await
        .map_err(|e| ApiError::Unavailable(format!("database ping: {e}")))?;
    Ok(axum::Json(HealthResponse {
        status: "ok".to_owned(),
    }))
}

/// Prometheus text exposition (format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Metrics", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render(&state.db.readings());
    crate::metrics::Metrics::render_hasher(&mut text, state.hasher.reading());
    crate::fault::Faults::render_metrics(state.faults.as_deref(), &mut text);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3 document", body = Object)))]
pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
