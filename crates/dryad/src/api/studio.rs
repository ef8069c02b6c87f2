//! The `/api/v1/agent-studio/*` routes (all need a bearer token).

use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::db::executions;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
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
#[utoipa::path(
    post,
    path = "/api/v1/agent-studio/execute",
    tag = "agent-studio",
    request_body = ExecuteRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted, PENDING", body = ExecuteResponse),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the body read timeout (the connection is closed)", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Missing field, wrong type, malformed agent_id, empty or too long prompt", body = ErrorBody),
        (status = 503, description = "Database out of reach or its pool exhausted", body = ErrorBody),
    )
)]
pub async fn execute(
    State(state): State<AppState>,
    Extension(timing): Extension<RequestTiming>,
    user: AuthUser,
    Json(req): Json<ExecuteRequest>,
) -> Result<axum::Json<ExecuteResponse>, ApiError> {
    req.validate().map_err(ApiError::InvalidBody)?;
    // Time-ordered (v7): new rows land at the end of the primary-key index.
    let id = Uuid::now_v7();
    let now = now_millis();
    let input = serde_json::json!({ "prompt": req.prompt }).to_string();
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
    Ok(axum::Json(ExecuteResponse {
        execution_id: id,
        agent_id: req.agent_id,
        status: Status::Pending,
        created_at: to_datetime(now),
    }))
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
