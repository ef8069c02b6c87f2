//! The control API under `/api/`: JSON in and out, every route documented in the OpenAPI
//! document (`GET /api/openapi.json`, [`crate::openapi::ApiDoc`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::IntervalStream;
use utoipa::{IntoParams, ToSchema};

use crate::controller::{ControlError, Controller, RunState};
use crate::form::{ScenarioInfo, StartRequest};
use crate::live::{self, LiveSnapshot};

/// How often the stream sends a snapshot.
pub const STREAM_EVERY: Duration = Duration::from_secs(1);

/// An error answer: `{"error": "..."}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// The API's errors, each with its status code.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Control(ControlError),
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        Self::Control(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::BadRequest(format!("the request body is not valid: {}", e.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Self::Control(e) => {
                let status = match &e {
                    ControlError::Form(_) | ControlError::Setup(_) => StatusCode::BAD_REQUEST,
                    ControlError::Conflict(_) => StatusCode::CONFLICT,
                    ControlError::Unreachable(_) => StatusCode::BAD_GATEWAY,
                    ControlError::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, e.to_string())
            }
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}

/// The server's state and what it runs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InfoResponse {
    pub state: RunState,
    /// The current or last run's number (0 before the first start).
    pub run: u64,
    pub scenario: ScenarioInfo,
    /// The last run's exit code, as headless `cicada run` would exit (once a run has ended).
    pub exit_code: Option<i32>,
}

/// The state after a control request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StateResponse {
    pub state: RunState,
    pub run: u64,
}

/// `POST /api/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersRequest {
    /// Users to move to.
    pub users: u64,
    /// Users started (or stopped) per second on the way; default: the run's spawn rate.
    #[serde(default)]
    pub spawn_rate: Option<f64>,
}

/// `POST /api/rate`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// Iterations started per second from now on.
    pub rate: f64,
}

/// `?html=true`: include the page's markup.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SnapshotQuery {
    #[serde(default)]
    pub html: bool,
}

fn state_of(c: &Controller) -> Json<StateResponse> {
    Json(StateResponse {
        state: c.state(),
        run: c.run_number(),
    })
}

/// The scenario, the form's defaults and the state.
#[utoipa::path(get, path = "/api/info", tag = "control",
    responses((status = 200, description = "The server's state", body = InfoResponse)))]
pub async fn info(State(c): State<Controller>) -> Json<InfoResponse> {
    Json(InfoResponse {
        state: c.state(),
        run: c.run_number(),
        scenario: c.info().clone(),
        exit_code: c.exit_code(),
    })
}

/// Start a run (while waiting, or after a stop: a new test).
#[utoipa::path(post, path = "/api/start", tag = "control", request_body = StartRequest,
    responses(
        (status = 202, description = "Started", body = StateResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 409, description = "A run is in progress", body = ErrorBody),
        (status = 502, description = "The target did not accept a connection; nothing was sent", body = ErrorBody),
    ))]
pub async fn start(
    State(c): State<Controller>,
    body: Result<Json<StartRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<StateResponse>), ApiError> {
    let Json(req) = body?;
    c.start(&req).await?;
    Ok((StatusCode::ACCEPTED, state_of(&c)))
}

/// Stop the run: users finish their current request; then the state is `stopped`.
#[utoipa::path(post, path = "/api/stop", tag = "control",
    responses(
        (status = 202, description = "Stopping", body = StateResponse),
        (status = 409, description = "No run is in progress", body = ErrorBody),
    ))]
pub async fn stop(
    State(c): State<Controller>,
) -> Result<(StatusCode, Json<StateResponse>), ApiError> {
    c.stop()?;
    Ok((StatusCode::ACCEPTED, state_of(&c)))
}

/// Closed model: move to a number of users at a spawn rate.
#[utoipa::path(post, path = "/api/users", tag = "control", request_body = UsersRequest,
    responses(
        (status = 200, description = "Moving", body = StateResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 409, description = "No run in progress, or an open-model run", body = ErrorBody),
    ))]
pub async fn users(
    State(c): State<Controller>,
    body: Result<Json<UsersRequest>, JsonRejection>,
) -> Result<Json<StateResponse>, ApiError> {
    let Json(req) = body?;
    c.set_users(req.users, req.spawn_rate)?;
    Ok(state_of(&c))
}

/// Open model: change the arrival rate.
#[utoipa::path(post, path = "/api/rate", tag = "control", request_body = RateRequest,
    responses(
        (status = 200, description = "Changed", body = StateResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 409, description = "No run in progress, or a closed-model run", body = ErrorBody),
    ))]
pub async fn rate(
    State(c): State<Controller>,
    body: Result<Json<RateRequest>, JsonRejection>,
) -> Result<Json<StateResponse>, ApiError> {
    let Json(req) = body?;
    c.set_rate(req.rate)?;
    Ok(state_of(&c))
}

/// Reset the statistics; the run goes on.
#[utoipa::path(post, path = "/api/reset", tag = "control",
    responses(
        (status = 200, description = "Reset", body = StateResponse),
        (status = 409, description = "No run is in progress", body = ErrorBody),
    ))]
pub async fn reset(State(c): State<Controller>) -> Result<Json<StateResponse>, ApiError> {
    c.reset()?;
    Ok(state_of(&c))
}

/// The run right now.
#[utoipa::path(get, path = "/api/snapshot", tag = "live", params(SnapshotQuery),
    responses((status = 200, description = "The current snapshot", body = LiveSnapshot)))]
pub async fn snapshot(
    State(c): State<Controller>,
    Query(q): Query<SnapshotQuery>,
) -> Json<LiveSnapshot> {
    Json(live::snapshot(&c, q.html))
}

/// A snapshot now and then every second, as server-sent events (`event: snapshot`, the data a
/// [`LiveSnapshot`] in JSON).
#[utoipa::path(get, path = "/api/stream", tag = "live", params(SnapshotQuery),
    responses((status = 200, description = "Server-sent events, one `snapshot` a second",
        content_type = "text/event-stream", body = LiveSnapshot)))]
pub async fn stream(
    State(c): State<Controller>,
    Query(q): Query<SnapshotQuery>,
    quit: Option<axum::Extension<tokio_util::sync::CancellationToken>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let html = q.html;
    let quit = quit.map(|q| q.0).unwrap_or_default();
    let ticks = IntervalStream::new(tokio::time::interval(STREAM_EVERY));
    // The stream ends when the server quits, so a graceful shutdown does not wait for it.
    let events = ticks
        .take_while(move |_| !quit.is_cancelled())
        .map(move |_| {
            let s = live::snapshot(&c, html);
            Ok(Event::default()
                .event("snapshot")
                .json_data(&s)
                .unwrap_or_else(|e| Event::default().event("error").data(e.to_string())))
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The report in a format: `json`, `html`, `csv` (Locust's `_stats.csv`), `csv-history`,
/// `csv-failures`, `junit`. During a run it is the partial report so far; after it, the final
/// one with the analysis.
#[utoipa::path(get, path = "/api/report/{format}", tag = "live",
    params(("format" = String, Path, description = "json, html, csv, csv-history, csv-failures or junit")),
    responses(
        (status = 200, description = "The report"),
        (status = 404, description = "No run yet, or an unknown format", body = ErrorBody),
    ))]
pub async fn report(
    State(c): State<Controller>,
    Path(format): Path<String>,
) -> Result<Response, ApiError> {
    use cicada_render::locust_csv;
    let Some(report) = c.report() else {
        return Err(ApiError::NotFound(
            "no report yet: start a run first".into(),
        ));
    };
    let (body, content_type, file) = match format.as_str() {
        "json" => (
            serde_json::to_string_pretty(&*report)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
            "application/json",
            "report.json",
        ),
        "html" => (
            cicada_render::html::render_html(&report),
            "text/html; charset=utf-8",
            "report.html",
        ),
        "csv" => (
            locust_csv::stats_csv(&report),
            "text/csv; charset=utf-8",
            "report_stats.csv",
        ),
        "csv-history" => (
            locust_csv::stats_history_csv(&report),
            "text/csv; charset=utf-8",
            "report_stats_history.csv",
        ),
        "csv-failures" => (
            locust_csv::failures_csv(&report),
            "text/csv; charset=utf-8",
            "report_failures.csv",
        ),
        "junit" => (
            cicada_render::junit::render_junit(&report),
            "application/xml",
            "report_junit.xml",
        ),
        other => {
            return Err(ApiError::NotFound(format!(
                "unknown report format {other:?}: json, html, csv, csv-history, csv-failures or junit"
            )));
        }
    };
    let disposition = format!(
        "attachment; filename=\"cicada-run{}-{file}\"",
        c.run_number()
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3 document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi as _;
    Json(crate::openapi::ApiDoc::openapi())
}
