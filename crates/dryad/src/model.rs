//! The domain model: execution status, the stored execution record and the API's JSON shapes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Lifecycle state of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Accepted and waiting in the queue.
    Pending,
    /// Claimed by a worker, which holds a lease on it.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error (`error_message` says which).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The stored (and serialised) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected one of PENDING, RUNNING, COMPLETED, FAILED, CANCELLED")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Milliseconds since the Unix epoch: the stored form of every timestamp.
pub type EpochMillis = i64;

/// The current time as [`EpochMillis`].
pub fn now_millis() -> EpochMillis {
    Utc::now().timestamp_millis()
}

/// Converts stored milliseconds into a UTC timestamp (clamped to the representable range).
pub fn to_datetime(ms: EpochMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// One execution as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    /// Execution id.
    pub id: Uuid,
    /// The agent that runs (ran) it.
    pub agent_id: Uuid,
    /// The user who asked for it.
    pub user_id: Uuid,
    /// When it was requested.
    pub execution_start: DateTime<Utc>,
    /// When it finished (null until then).
    pub execution_end: Option<DateTime<Utc>>,
    /// Lifecycle state.
    pub status: Status,
    /// The request, e.g. `{"prompt": "..."}`.
    #[schema(value_type = Object)]
    pub input_data: serde_json::Value,
    /// The agent's answer (null until completed).
    #[schema(value_type = Option<Object>)]
    pub output_data: Option<serde_json::Value>,
    /// Why it failed (null unless FAILED).
    pub error_message: Option<String>,
    /// How long the agent ran, in milliseconds (null until finished).
    pub execution_time_ms: Option<i64>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Longest accepted username, in characters (Unicode scalar values, as JSON Schema counts).
pub const MAX_USERNAME_CHARS: usize = 256;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest accepted prompt, in characters: even with every character escaped as `\uXXXX` (6
/// bytes) a request at this length stays under the 64 KiB body limit.
pub const MAX_PROMPT_CHARS: usize = 10_000;

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"username": "loadtest", "password": "test123"}))]
pub struct LoginRequest {
    /// Account name: at most 256 characters, no U+0000 (PostgreSQL text cannot hold it, so no
    /// account can have it; refused on both backends alike).
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub username: String,
    /// Password in clear (sent over the connection, hashed with argon2id at rest); at most 1024
    /// characters.
    #[schema(max_length = 1024)]
    pub password: String,
}

impl LoginRequest {
    /// The rules the schema states, checked: the reason for a 422 if one is broken.
    pub fn validate(&self) -> Result<(), String> {
        check_length("username", &self.username, MAX_USERNAME_CHARS)?;
        check_length("password", &self.password, MAX_PASSWORD_CHARS)?;
        check_no_nul("username", &self.username)
    }
}

/// Whitespace as the prompt rule counts it: the ASCII set `\t \n \v \f \r` and space,
/// exactly the class the schema's pattern excludes (Unicode spaces count as content).
fn is_prompt_space(c: char) -> bool {
    matches!(c, '\u{9}'..='\u{d}' | ' ')
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n > max {
        return Err(format!(
            "{field} is {n} characters long; at most {max} are accepted"
        ));
    }
    Ok(())
}

fn check_no_nul(field: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!(
            "{field} must not contain U+0000 (NUL): the database cannot store it"
        ));
    }
    Ok(())
}

/// A bearer token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT (HS256).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// `POST /api/v1/agent-studio/execute` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({
    "agent_id": "0195f0a4-6d3c-7b1e-9c2a-5e8f1d2c3b4a",
    "prompt": "Summarise the latest run"
}))]
pub struct ExecuteRequest {
    /// Any well-formed agent id.
    pub agent_id: Uuid,
    /// What to ask the agent: 1 to 10,000 characters, at least one of them not ASCII
    /// whitespace (tab, line feed, vertical tab, form feed, carriage return, space).
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = "[^\\u0009-\\u000d\\u0020]"
    )]
    pub prompt: String,
}

impl ExecuteRequest {
    /// The rules the schema states, checked: the reason for a 422 if one is broken.
    pub fn validate(&self) -> Result<(), String> {
        check_length("prompt", &self.prompt, MAX_PROMPT_CHARS)?;
        if self.prompt.chars().all(is_prompt_space) {
            return Err("prompt must not be empty or only whitespace".to_owned());
        }
        Ok(())
    }
}

/// The accepted execution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecuteResponse {
    /// Id to poll with `GET /api/v1/agent-studio/executions/{execution_id}`.
    pub execution_id: Uuid,
    /// The agent asked.
    pub agent_id: Uuid,
    /// Always `PENDING`.
    pub status: Status,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
}

/// A page of an agent's executions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecutionPage {
    /// The page.
    pub executions: Vec<Execution>,
    /// How many executions match (all pages).
    pub total: i64,
    /// Page size asked for.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// Executions per status; every status is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub struct StatusCounts {
    /// Waiting.
    pub pending: i64,
    /// Running.
    pub running: i64,
    /// Succeeded.
    pub completed: i64,
    /// Failed.
    pub failed: i64,
    /// Cancelled.
    pub cancelled: i64,
}

impl StatusCounts {
    /// Adds `n` to one status.
    pub fn add(&mut self, status: Status, n: i64) {
        let slot = match status {
            Status::Pending => &mut self.pending,
            Status::Running => &mut self.running,
            Status::Completed => &mut self.completed,
            Status::Failed => &mut self.failed,
            Status::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }

    /// Sum over all statuses.
    pub fn total(&self) -> i64 {
        self.pending + self.running + self.completed + self.failed + self.cancelled
    }
}

/// Aggregates over one agent's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentMetrics {
    /// The agent.
    pub agent_id: Uuid,
    /// All executions, any status.
    pub total_executions: i64,
    /// Executions per status.
    pub by_status: StatusCounts,
    /// COMPLETED / (COMPLETED + FAILED + CANCELLED); 0 when none has finished.
    pub success_rate: f64,
    /// Mean execution time of finished executions (null when none).
    pub avg_execution_time_ms: Option<f64>,
    /// Median execution time, nearest-rank (null when none).
    pub p50_execution_time_ms: Option<i64>,
    /// 95th percentile execution time, nearest-rank (null when none).
    pub p95_execution_time_ms: Option<i64>,
    /// Start of the newest execution (null when none).
    pub last_execution_at: Option<DateTime<Utc>>,
}

/// Every error body: `{"error": "<code>", "detail": "<message>"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_token`.
    pub error: String,
    /// Human-readable explanation.
    pub detail: String,
}

/// `GET /health` and `GET /ready` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`.
    pub status: String,
}

/// Nearest-rank percentile position: the 0-based offset of the `p`-th percentile among `n`
/// sorted values (`p` in 0..=100), or `None` when there are no values.
pub fn nearest_rank_offset(p: f64, n: i64) -> Option<i64> {
    if n <= 0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let rank = ((p / 100.0) * n as f64).ceil() as i64;
    Some(rank.clamp(1, n) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_rejects_unknown() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert!("completed".parse::<Status>().is_err());
        assert!("".parse::<Status>().is_err());
    }

    #[test]
    fn nearest_rank_matches_definition() {
        assert_eq!(nearest_rank_offset(50.0, 0), None);
        assert_eq!(nearest_rank_offset(50.0, 1), Some(0));
        // 10 values: p50 is the 5th (offset 4), p95 the 10th (offset 9).
        assert_eq!(nearest_rank_offset(50.0, 10), Some(4));
        assert_eq!(nearest_rank_offset(95.0, 10), Some(9));
        // 100 values: p95 is the 95th.
        assert_eq!(nearest_rank_offset(95.0, 100), Some(94));
        assert_eq!(nearest_rank_offset(0.0, 5), Some(0));
    }
}
