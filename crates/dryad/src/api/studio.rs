//! The `/api/v1/agent-studio/*` routes (all need a bearer token).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::api::idempotency;
use crate::auth::AuthUser;
use crate::db::executions;
use crate::db::idempotency::{self as idempotency_db, Keyed};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::metrics::IdempotencyOutcome;
use crate::model::{
    AgentMetrics, ErrorBody, ExecuteRequest, ExecuteResponse, Execution, ExecutionPage, Status,
    now_millis, to_datetime,
};
use crate::state::AppState;
use crate::timing::RequestTiming;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page.
pub const MAX_LIMIT: i64 = 100;

/// Starts an agent execution; it is committed before the response and runs asynchronously.
///
/// With an `Idempotency-Key` the same key from the same user within the idempotency window
/// (`--idempotency-window-secs`, 24 h) answers the first execution again (200, the same body,
/// `Idempotent-Replayed: true`) instead of starting another.
#[utoipa::path(
    post,
    path = "/api/v1/agent-studio/execute",
    tag = "agent-studio",
    request_body = ExecuteRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "draft-ietf-httpapi-idempotency-key-header: a client-chosen key, as a Structured Field string (`\"...\"`) or bare: 1-255 printable ASCII characters other than `\"` and `\\` (a space only inside quotes). A retry with the same key and body within the window gets the first execution back; the same key with another body is refused with 422.",
            max_length = 257, pattern = r#"^("[ !#-\[\]-~]{1,255}"|[!#-\[\]-~]{1,255})$"#),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted, PENDING; with an Idempotency-Key already used by this user for the same body, the first execution's response again (then `Idempotent-Replayed: true`)", body = ExecuteResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "Body is not JSON, or a malformed Idempotency-Key", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the body read timeout (the connection is closed)", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Missing field, wrong type, malformed agent_id, empty or too long prompt; or (`idempotency_key_reused`) the Idempotency-Key was already used by this user with a different body", body = ErrorBody),
        (status = 503, description = "Database out of reach or its pool exhausted", body = ErrorBody),
    )
)]
pub async fn execute(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<ExecuteRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    req.validate().map_err(ApiError::InvalidBody)?;
    // Time-ordered (v7): new rows land at the end of the primary-key index.
    let id = Uuid::now_v7();
    let now = now_millis();
    let input = serde_json::json!({ "prompt": req.prompt }).to_string();
    if let Some(key) = key {
        return execute_keyed(&state, &timing, &user, &key, id, &req, &input, now).await;
    }
    {
        let mut conn = state.db.acquire_writer(&timing).await?;
        match state.faults.as_ref().and_then(|f| f.write_lock_hold()) {
            None => {
                timing
                    .db(executions::insert_pending(
                        &mut conn,
                        id,
                        req.agent_id,
                        &user.user_id,
                        &input,
                        now,
                    ))
                    .await?
            }
            Some(hold) => {
                timing
                    .db(crate::fault::write_lock::insert_pending_holding_lock(
                        &mut conn,
                        state.db.backend(),
                        hold,
                        id,
                        req.agent_id,
                        &user.user_id,
                        &input,
                        now,
                    ))
                    .await?
            }
        }
    }
    state.metrics.count_created();
    state.queue_wakeup.notify_one();
    Ok(accepted(id, req.agent_id, now).into_response())
}

/// `execute` under an `Idempotency-Key`: insert-or-select in one transaction.
#[allow(clippy::too_many_arguments)]
async fn execute_keyed(
    state: &AppState,
    timing: &RequestTiming,
    user: &AuthUser,
    key: &str,
    id: Uuid,
    req: &ExecuteRequest,
    input: &str,
    now: i64,
) -> Result<Response, ApiError> {
    let window = i64::try_from(state.idempotency_window.as_millis()).unwrap_or(i64::MAX);
    let keyed = {
        let mut conn = state.db.acquire_writer(timing).await?;
        timing
            .db(idempotency_db::insert_or_get(
                &mut conn,
                &user.user_id,
                key,
                id,
                req.agent_id,
                input,
                now,
                now.saturating_add(window),
            ))
            .await?
    };
    let first = match keyed {
        Keyed::Created => {
            state.metrics.count_created();
            state.metrics.count_idempotent(IdempotencyOutcome::New);
            state.queue_wakeup.notify_one();
            return Ok(accepted(id, req.agent_id, now).into_response());
        }
        Keyed::Existing(first) => first,
    };
    if first.agent_id != req.agent_id.to_string() || first.input_data != input {
        state.metrics.count_idempotent(IdempotencyOutcome::Mismatch);
        return Err(ApiError::InvalidBodyCode {
            code: "idempotency_key_reused",
            detail: "this Idempotency-Key was already used with a different request body; \
                     use a new key for a new request"
                .to_owned(),
        });
    }
    let execution_id = Uuid::parse_str(&first.execution_id)
        .map_err(|e| ApiError::Internal(format!("idempotency key names a bad id: {e}")))?;
    state.metrics.count_idempotent(IdempotencyOutcome::Replayed);
    let mut response = accepted(execution_id, req.agent_id, first.created_at).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

/// The answer to an accepted execute (the same for its replays).
fn accepted(id: Uuid, agent_id: Uuid, created_at: i64) -> axum::Json<ExecuteResponse> {
    axum::Json(ExecuteResponse {
        execution_id: id,
        agent_id,
        status: Status::Pending,
        created_at: to_datetime(created_at),
    })
}

/// One execution.
#[utoipa::path(
    get,
    path = "/api/v1/agent-studio/executions/{execution_id}",
    tag = "agent-studio",
    params(("execution_id" = Uuid, Path, description = "Execution id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The execution", body = Execution),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 503, description = "Database out of reach or its pool exhausted", body = ErrorBody),
    )
)]
pub async fn get_execution(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    _user: AuthUser,
    Path(execution_id): Path<Uuid>,
) -> Result<axum::Json<Execution>, ApiError> {
    let row = {
        let mut conn = state.db.acquire(&timing).await?;
        timing.db(executions::get(&mut conn, execution_id)).await?
    };
    let row =
        row.ok_or_else(|| ApiError::NotFound(format!("execution {execution_id} not found")))?;
    let execution = Execution::try_from(row).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(axum::Json(execution))
}

/// Query of the history listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub offset: Option<i64>,
    /// Only this status.
    #[param(value_type = Option<Status>)]
    pub status: Option<String>,
}

/// A validated [`ListParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// 1..=100.
    pub limit: i64,
    /// >= 0.
    pub offset: i64,
    /// Filter.
    pub status: Option<Status>,
}

impl TryFrom<ListParams> for ListQuery {
    type Error = ApiError;

    fn try_from(p: ListParams) -> Result<Self, ApiError> {
        let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
            ));
        }
        let offset = p.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("offset must be 0 or more, got {offset}"),
            ));
        }
        let status = p
            .status
            .map(|s| s.parse::<Status>())
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
        Ok(ListQuery {
            limit,
            offset,
            status,
        })
    }
}

/// An agent's executions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/agent-studio/agents/{agent_id}/executions",
    tag = "agent-studio",
    params(("agent_id" = Uuid, Path, description = "Agent id"), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page (empty for an agent with no history)", body = ExecutionPage),
        (status = 400, description = "Malformed id, limit or offset out of range or not an integer, unknown status", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 503, description = "Database out of reach or its pool exhausted", body = ErrorBody),
    )
)]
pub async fn list_executions(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    _user: AuthUser,
    Path(agent_id): Path<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<ExecutionPage>, ApiError> {
    let q = ListQuery::try_from(params)?;
    let (rows, total) = {
        let mut conn = state.db.acquire(&timing).await?;
        let rows = timing
            .db(executions::list_for_agent(
                &mut conn, agent_id, q.status, q.limit, q.offset,
            ))
            .await?;
        let total = timing
            .db(executions::count_for_agent(&mut conn, agent_id, q.status))
            .await?;
        (rows, total)
    };
    let executions = rows
        .into_iter()
        .map(Execution::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(axum::Json(ExecutionPage {
        executions,
        total,
        limit: q.limit,
        offset: q.offset,
    }))
}

/// Aggregates over an agent's history.
#[utoipa::path(
    get,
    path = "/api/v1/agent-studio/agents/{agent_id}/metrics",
    tag = "agent-studio",
    params(("agent_id" = Uuid, Path, description = "Agent id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Aggregates (zeros and nulls for no history)", body = AgentMetrics),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 503, description = "Database out of reach or its pool exhausted", body = ErrorBody),
    )
)]
pub async fn agent_metrics(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    _user: AuthUser,
    Path(agent_id): Path<Uuid>,
) -> Result<axum::Json<AgentMetrics>, ApiError> {
    let mut conn = state.db.acquire(&timing).await?;
    let metrics = timing
        .db(executions::agent_metrics(&mut conn, agent_id))
        .await?;
    Ok(axum::Json(metrics))
}
