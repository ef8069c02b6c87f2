//! The `missing-index` fault: the history indexes dropped at start, and put back at the next
//! start without the fault (the drop is in the database, so it outlives the process).

use sqlx::Executor as _;

use crate::db::{Backend, Db};

/// The history indexes: name and the statement that creates it (as in the migrations).
pub const HISTORY_INDEXES: [(&str, &str); 2] = [
    (
        "executions_agent_start",
        "CREATE INDEX IF NOT EXISTS executions_agent_start \
         ON executions (agent_id, execution_start DESC, id DESC)",
    ),
    (
        "executions_agent_status",
        "CREATE INDEX IF NOT EXISTS executions_agent_status \
         ON executions (agent_id, status, execution_start DESC, id DESC)",
    ),
];

/// Does the index exist?
pub async fn index_exists(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = $1",
        Backend::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1",
    };
    let (n,): (i64,) = sqlx::query_as(sql).bind(name).fetch_one(db.pool()).await?;
    Ok(n > 0)
}

/// With `missing`, drops the history indexes; without, recreates any that an earlier
/// `--fault missing-index` start dropped (logged, since it can take a while on a big table).
/// Runs at start, before the workers and before any request.
pub async fn apply(db: &Db, missing: bool) -> Result<(), sqlx::Error> {
    for (name, create) in HISTORY_INDEXES {
        let exists = index_exists(db, name).await?;
        match (missing, exists) {
            (true, true) => {
                tracing::warn!(index = name, "FAULT missing-index: dropping index");
                db.pool()
                    .execute(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
                    .await?;
            }
            (false, false) => {
                tracing::warn!(
                    index = name,
                    "index missing (dropped by an earlier --fault missing-index): recreating it"
                );
                db.pool().execute(create).await?;
            }
            _ => {}
        }
    }
    Ok(())
}
