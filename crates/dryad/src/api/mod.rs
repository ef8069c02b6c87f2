//! The HTTP API: `app(state)` builds the router; handlers live one file per area.

pub mod auth;
pub mod idempotency;
pub mod limits;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod studio;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::fault;
use crate::state::AppState;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The service's router.
pub fn app(state: AppState) -> Router {
    let studio = Router::new()
        .route("/execute", post(studio::execute))
        .route("/executions/{execution_id}", get(studio::get_execution))
        .route(
            "/agents/{agent_id}/executions",
            get(studio::list_executions),
        )
        .route("/agents/{agent_id}/metrics", get(studio::agent_metrics));
    let router = Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .route("/api/v1/auth/login", post(auth::login))
        .nest("/api/v1/agent-studio", studio)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Planted faults (`--fault`) get a layer of their own, absent in normal operation.
    let router = match state.faults.clone() {
        Some(faults) if faults.needs_middleware() => router.layer(middleware::from_fn_with_state(
            faults,
            fault::effects::apply,
        )),
        _ => router,
    };
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(limits::header_limits))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}
