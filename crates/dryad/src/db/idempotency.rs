//! `Idempotency-Key` of `POST /execute`: the key and its execution are written in one
//! transaction, and duplicates meet on the `(user_id, idem_key)` primary key.
//!
//! Insert-or-select, never check-then-insert: the key row is inserted with
//! `ON CONFLICT DO NOTHING`. The one request whose insert took the key also inserts the
//! execution and commits both; every other request with that key inserted nothing and reads the
//! row the winner committed. On PostgreSQL a concurrent duplicate's insert waits on the unique
//! index until the winner's transaction ends, then sees its row (READ COMMITTED takes a new
//! snapshot per statement); on SQLite every write goes through the single writer connection, so
//! duplicates are serialised outright. Either way no key ever names a missing execution, so
//! there is no "still being processed" state for a duplicate to observe.

use sqlx::{AnyConnection, Connection as _, FromRow};
use uuid::Uuid;

use crate::db::executions;
use crate::model::EpochMillis;

/// What the first execution under a key was.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct KeyedExecution {
    /// UUID text of the execution.
    pub execution_id: String,
    /// UUID text of its agent.
    pub agent_id: String,
    /// Its stored input (`{"prompt": ...}` as JSON text).
    pub input_data: String,
    /// When it was accepted, epoch ms.
    pub created_at: i64,
}

/// The result of [`insert_or_get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyed {
    /// The key was new (or expired): this execution was created under it.
    Created,
    /// The key was taken within its window: the execution it names.
    Existing(KeyedExecution),
}

/// A new PENDING execution `id` under `(user_id, key)`, or the execution the key already names.
/// An expired key is deleted and taken anew in the same transaction.
#[allow(clippy::too_many_arguments)]
pub async fn insert_or_get(
    conn: &mut AnyConnection,
    user_id: &str,
    key: &str,
    id: Uuid,
    agent_id: Uuid,
    input_json: &str,
    now: EpochMillis,
    expires_at: EpochMillis,
) -> Result<Keyed, sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND expires_at <= $3",
    )
    .bind(user_id)
    .bind(key)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let taken = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, execution_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(user_id)
    .bind(key)
    .bind(id.to_string())
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if taken {
        executions::insert_pending(&mut tx, id, agent_id, user_id, input_json, now).await?;
        tx.commit().await?;
        return Ok(Keyed::Created);
    }
    let existing = sqlx::query_as::<_, KeyedExecution>(
        "SELECT e.id AS execution_id, e.agent_id, e.input_data, e.created_at \
         FROM idempotency_keys k JOIN executions e ON e.id = k.execution_id \
         WHERE k.user_id = $1 AND k.idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Keyed::Existing(existing))
}

/// Deletes the keys expired at `now`; returns how many.
pub async fn purge_expired(conn: &mut AnyConnection, now: EpochMillis) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
