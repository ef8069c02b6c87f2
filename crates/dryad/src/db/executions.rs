//! Queries over the `executions` table: the API's reads and writes and the durable queue.

use sqlx::{AnyConnection, FromRow};
use uuid::Uuid;

use crate::db::Backend;
use crate::model::{
    AgentMetrics, EpochMillis, Execution, Status, StatusCounts, nearest_rank_offset, to_datetime,
};

/// `SELECT <columns of ExecutionRow> FROM executions <rest>` as one literal (sqlx only takes
/// literal SQL without an audit wrapper).
macro_rules! select_executions {
    ($rest:literal) => {
        concat!(
            "SELECT id, agent_id, user_id, execution_start, execution_end, status, input_data, ",
            "output_data, error_message, execution_time_ms, created_at, updated_at ",
            "FROM executions ",
            $rest
        )
    };
}

/// An `executions` row as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ExecutionRow {
    /// UUID text.
    pub id: String,
    /// UUID text.
    pub agent_id: String,
    /// UUID text.
    pub user_id: String,
    /// Epoch ms.
    pub execution_start: i64,
    /// Epoch ms.
    pub execution_end: Option<i64>,
    /// One of [`Status`].
    pub status: String,
    /// JSON text.
    pub input_data: String,
    /// JSON text.
    pub output_data: Option<String>,
    /// Failure reason.
    pub error_message: Option<String>,
    /// Agent run time.
    pub execution_time_ms: Option<i64>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

/// A stored row that does not decode into the API model (written by something else).
#[derive(Debug, thiserror::Error)]
#[error("execution row {id} is corrupt: {what}")]
pub struct CorruptRow {
    /// Row id as stored.
    pub id: String,
    /// What did not decode.
    pub what: String,
}

fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

impl TryFrom<ExecutionRow> for Execution {
    type Error = CorruptRow;

    fn try_from(row: ExecutionRow) -> Result<Self, Self::Error> {
        let corrupt = |what: String| CorruptRow {
            id: row.id.clone(),
            what,
        };
        let uuid = |field: &str, text: &str| {
            Uuid::parse_str(text).map_err(|e| corrupt(format!("{field}: {e}")))
        };
        Ok(Execution {
            id: uuid("id", &row.id)?,
            agent_id: uuid("agent_id", &row.agent_id)?,
            user_id: uuid("user_id", &row.user_id)?,
            execution_start: to_datetime(row.execution_start),
            execution_end: row.execution_end.map(to_datetime),
            status: row
                .status
                .parse()
                .map_err(|e: crate::model::UnknownStatus| corrupt(e.to_string()))?,
            input_data: parse_json(&row.input_data),
            output_data: row.output_data.as_deref().map(parse_json),
            error_message: row.error_message.clone(),
            execution_time_ms: row.execution_time_ms,
            created_at: to_datetime(row.created_at),
            updated_at: to_datetime(row.updated_at),
        })
    }
}

/// Inserts a PENDING execution.
pub async fn insert_pending(
    conn: &mut AnyConnection,
    id: Uuid,
    agent_id: Uuid,
    user_id: &str,
    input_json: &str,
    now: EpochMillis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO executions (id, agent_id, user_id, execution_start, status, input_data, \
         attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, 'PENDING', $5, 0, $4, $4)",
    )
    .bind(id.to_string())
    .bind(agent_id.to_string())
    .bind(user_id)
    .bind(now)
    .bind(input_json)
    .execute(conn)
    .await?;
    Ok(())
}

/// One execution by id.
pub async fn get(conn: &mut AnyConnection, id: Uuid) -> Result<Option<ExecutionRow>, sqlx::Error> {
    sqlx::query_as::<_, ExecutionRow>(select_executions!("WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
}

/// A page of one agent's executions, newest first, optionally of one status.
pub async fn list_for_agent(
    conn: &mut AnyConnection,
    agent_id: Uuid,
    status: Option<Status>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ExecutionRow>, sqlx::Error> {
    let agent = agent_id.to_string();
    match status {
        None => {
            sqlx::query_as::<_, ExecutionRow>(select_executions!(
                "WHERE agent_id = $1 ORDER BY execution_start DESC, id DESC LIMIT $2 OFFSET $3"
            ))
            .bind(agent)
            .bind(limit)
            .bind(offset)
            .fetch_all(conn)
            .await
        }
        Some(status) => {
            sqlx::query_as::<_, ExecutionRow>(select_executions!(
                "WHERE agent_id = $1 AND status = $2 \
                 ORDER BY execution_start DESC, id DESC LIMIT $3 OFFSET $4"
            ))
            .bind(agent)
            .bind(status.as_str())
            .bind(limit)
            .bind(offset)
            .fetch_all(conn)
            .await
        }
    }
}

/// How many executions one agent has (of one status, if given); an index-only count.
pub async fn count_for_agent(
    conn: &mut AnyConnection,
    agent_id: Uuid,
    status: Option<Status>,
) -> Result<i64, sqlx::Error> {
    let agent = agent_id.to_string();
    let (n,): (i64,) = match status {
        None => {
            sqlx::query_as("SELECT COUNT(*) FROM executions WHERE agent_id = $1")
                .bind(agent)
                .fetch_one(conn)
                .await?
        }
        Some(status) => {
            sqlx::query_as("SELECT COUNT(*) FROM executions WHERE agent_id = $1 AND status = $2")
                .bind(agent)
                .bind(status.as_str())
                .fetch_one(conn)
                .await?
        }
    };
    Ok(n)
}

/// Aggregates over one agent's history: three index-only queries plus two index probes for
/// the percentiles (nearest rank, via `ORDER BY execution_time_ms LIMIT 1 OFFSET k`).
pub async fn agent_metrics(
    conn: &mut AnyConnection,
    agent_id: Uuid,
) -> Result<AgentMetrics, sqlx::Error> {
    let agent = agent_id.to_string();
    let groups: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT status, COUNT(*), MAX(execution_start) FROM executions \
         WHERE agent_id = $1 GROUP BY status",
    )
    .bind(&agent)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_status = StatusCounts::default();
    let mut last: Option<i64> = None;
    for (status, n, latest) in groups {
        if let Ok(status) = status.parse::<Status>() {
            by_status.add(status, n);
        }
        last = last.max(latest);
    }
    let (timed, time_sum): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(execution_time_ms) AS BIGINT) FROM executions \
         WHERE agent_id = $1 AND execution_time_ms IS NOT NULL",
    )
    .bind(&agent)
    .fetch_one(&mut *conn)
    .await?;
    let mut percentile = async |p: f64| -> Result<Option<i64>, sqlx::Error> {
        let Some(offset) = nearest_rank_offset(p, timed) else {
            return Ok(None);
        };
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT execution_time_ms FROM executions \
             WHERE agent_id = $1 AND execution_time_ms IS NOT NULL \
             ORDER BY execution_time_ms LIMIT 1 OFFSET $2",
        )
        .bind(&agent)
        .bind(offset)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|(v,)| v))
    };
    let p50 = percentile(50.0).await?;
    let p95 = percentile(95.0).await?;
    Ok(summarise(
        agent_id,
        by_status,
        timed,
        time_sum.unwrap_or(0),
        p50,
        p95,
        last,
    ))
}

/// Assembles [`AgentMetrics`] from the aggregates (pure).
pub fn summarise(
    agent_id: Uuid,
    by_status: StatusCounts,
    timed: i64,
    time_sum: i64,
    p50: Option<i64>,
    p95: Option<i64>,
    last: Option<EpochMillis>,
) -> AgentMetrics {
    let finished = by_status.completed + by_status.failed + by_status.cancelled;
    #[allow(clippy::cast_precision_loss)]
    let success_rate = if finished == 0 {
        0.0
    } else {
        by_status.completed as f64 / finished as f64
    };
    #[allow(clippy::cast_precision_loss)]
    let avg = (timed > 0).then(|| time_sum as f64 / timed as f64);
    AgentMetrics {
        agent_id,
        total_executions: by_status.total(),
        by_status,
        success_rate,
        avg_execution_time_ms: avg,
        p50_execution_time_ms: p50,
        p95_execution_time_ms: p95,
        last_execution_at: last.map(to_datetime),
    }
}

/// An execution a worker has claimed.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    /// UUID text.
    pub id: String,
    /// UUID text.
    pub agent_id: String,
    /// JSON text.
    pub input_data: String,
    /// Claim number: finishing or requeueing checks it, so a stale worker cannot overwrite a
    /// newer claim after its lease expired.
    pub attempts: i32,
}

/// Claims the oldest PENDING execution: marks it RUNNING with a lease until `lease_until`.
pub async fn claim_next(
    conn: &mut AnyConnection,
    backend: Backend,
    now: EpochMillis,
    lease_until: EpochMillis,
) -> Result<Option<Claimed>, sqlx::Error> {
    let sql = match backend {
        // One autocommit statement takes SQLite's write lock up front, so claims serialise.
        Backend::Sqlite => {
            "UPDATE executions SET status = 'RUNNING', lease_expires_at = $1, \
             attempts = attempts + 1, updated_at = $2 WHERE id = (SELECT id FROM executions \
             WHERE status = 'PENDING' ORDER BY created_at LIMIT 1) \
             RETURNING id, agent_id, input_data, attempts"
        }
        // Concurrent claimers skip each other's locked rows instead of queueing on them.
        Backend::Postgres => {
            "UPDATE executions SET status = 'RUNNING', lease_expires_at = $1, \
             attempts = attempts + 1, updated_at = $2 WHERE id = (SELECT id FROM executions \
             WHERE status = 'PENDING' ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, agent_id, input_data, attempts"
        }
    };
    sqlx::query_as::<_, Claimed>(sql)
        .bind(lease_until)
        .bind(now)
        .fetch_optional(conn)
        .await
}

/// How a claimed execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// COMPLETED with this output JSON.
    Completed {
        /// JSON text.
        output_json: String,
    },
    /// FAILED with this message.
    Failed {
        /// Reason.
        error_message: String,
    },
}

/// Records the end of a claimed execution; false if the claim was lost meanwhile.
pub async fn finish(
    conn: &mut AnyConnection,
    claim: &Claimed,
    outcome: &Outcome,
    now: EpochMillis,
    execution_time_ms: i64,
) -> Result<bool, sqlx::Error> {
    let (status, output, error) = match outcome {
        Outcome::Completed { output_json } => (Status::Completed, Some(output_json.as_str()), None),
        Outcome::Failed { error_message } => (Status::Failed, None, Some(error_message.as_str())),
    };
    let done = sqlx::query(
        "UPDATE executions SET status = $1, output_data = $2, error_message = $3, \
         execution_end = $4, execution_time_ms = $5, lease_expires_at = NULL, updated_at = $4 \
         WHERE id = $6 AND status = 'RUNNING' AND attempts = $7",
    )
    .bind(status.as_str())
    .bind(output)
    .bind(error)
    .bind(now)
    .bind(execution_time_ms)
    .bind(&claim.id)
    .bind(claim.attempts)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a claimed execution back in the queue (shutdown); false if the claim was lost.
pub async fn requeue(
    conn: &mut AnyConnection,
    claim: &Claimed,
    now: EpochMillis,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'PENDING', lease_expires_at = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'RUNNING' AND attempts = $3",
    )
    .bind(now)
    .bind(&claim.id)
    .bind(claim.attempts)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Returns every RUNNING execution whose lease ended before `now` to the queue.
pub async fn requeue_expired(
    conn: &mut AnyConnection,
    now: EpochMillis,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'PENDING', lease_expires_at = NULL, updated_at = $1 \
         WHERE status = 'RUNNING' AND lease_expires_at < $1",
    )
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Whether anything is PENDING: a read (no writer needed) that lets idle workers skip the
/// claiming write when the queue is empty.
pub async fn has_pending(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> =
        sqlx::query_as("SELECT 1 FROM executions WHERE status = 'PENDING' LIMIT 1")
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// Number of PENDING executions (index-only over the small PENDING range).
pub async fn queue_depth(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM executions WHERE status = 'PENDING'")
        .fetch_one(conn)
        .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarise_known_fixture() {
        let mut counts = StatusCounts::default();
        counts.add(Status::Completed, 8);
        counts.add(Status::Failed, 1);
        counts.add(Status::Cancelled, 1);
        counts.add(Status::Pending, 2);
        let m = summarise(Uuid::nil(), counts, 9, 900, Some(100), Some(200), Some(0));
        assert_eq!(m.total_executions, 12);
        assert!((m.success_rate - 0.8).abs() < 1e-12);
        assert_eq!(m.avg_execution_time_ms, Some(100.0));
        assert_eq!(m.last_execution_at, Some(to_datetime(0)));
    }

    #[test]
    fn summarise_empty_history_is_zeros_and_nulls() {
        let m = summarise(Uuid::nil(), StatusCounts::default(), 0, 0, None, None, None);
        assert_eq!(m.total_executions, 0);
        assert_eq!(m.success_rate, 0.0);
        assert_eq!(m.avg_execution_time_ms, None);
        assert_eq!(m.last_execution_at, None);
    }
}
