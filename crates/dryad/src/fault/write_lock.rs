//! The `write-lock` fault: an execute's insert inside a transaction that keeps the write lock
//! for a while after the insert, as a long transaction in an application would.

use std::time::Duration;

use sqlx::{AnyConnection, Connection as _, Executor as _};
use uuid::Uuid;

use crate::db::{Backend, executions};
use crate::model::EpochMillis;

/// One PENDING insert that holds the write lock `hold` longer: on SQLite the transaction's
/// write lock (and dryad's single writer connection), on PostgreSQL a table lock that conflicts
/// with every other writer of `executions`. Rolled back if the request is dropped mid-way.
#[allow(clippy::too_many_arguments)]
pub async fn insert_pending_holding_lock(
    conn: &mut AnyConnection,
    backend: Backend,
    hold: Duration,
    id: Uuid,
    agent_id: Uuid,
    user_id: &str,
    input_json: &str,
    now: EpochMillis,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    if backend == Backend::Postgres {
        tx.execute("LOCK TABLE executions IN SHARE ROW EXCLUSIVE MODE")
            .await?;
    }
    executions::insert_pending(&mut tx, id, agent_id, user_id, input_json, now).await?;
    tokio::time::sleep(hold).await;
    tx.commit().await
}
