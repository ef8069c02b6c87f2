//! `dryad seed`: bulk-loads a realistic execution history and the load-test accounts.
//!
//! Agent and execution ids come from a seeded generator, so a second run with the same seed
//! recognises what is there: agents that already hold their executions are skipped, partial
//! ones are topped up (`ON CONFLICT (id) DO NOTHING`), accounts are upserted. Rows are
//! generated on one task and inserted on another (multi-row `INSERT`s of 1,000 rows inside
//! transactions of 200,000), so generation and the database's work overlap on two cores.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor};
use uuid::Uuid;

use crate::auth::{PasswordError, PasswordHasher};
use crate::config::SeedConfig;
use crate::db::{Backend, Db, DbError, PoolSizes, users};
use crate::metrics::Metrics;
use crate::model::{Status, now_millis};
use crate::runtime::agent::standard_normal;

/// Rows per `INSERT` statement (at most 12 parameters each: under SQLite's 32,766 limit).
const ROWS_PER_STATEMENT: usize = 1000;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 200_000;

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Opening the database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A statement failed.
    #[error("seeding statement failed: {0}")]
    Sql(#[from] sqlx::Error),
    /// Hashing a password.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Writing the CSV.
    #[error("writing {path}: {message}")]
    Export {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// What a seed run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Agents asked for.
    pub agents: u64,
    /// Agents that already had their executions.
    pub agents_skipped: u64,
    /// Execution rows written (rows already present are not counted).
    pub executions_inserted: u64,
    /// Accounts created or updated.
    pub accounts: usize,
    /// Agent ids (in generation order).
    pub agent_ids: Vec<Uuid>,
    /// Wall time.
    pub elapsed: Duration,
}

/// The `i`-th agent's generator for a seed.
fn agent_rng(seed: u64, i: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ (i.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// A seeded execution id that sorts by (agent index, execution index): the primary-key index
/// then grows at its end instead of taking a million random inserts. Layout (UUID version 8):
/// agent index (32 bits), execution index (24 bits around the version nibble), then 62 random
/// bits, so ids from different seeds do not collide.
fn execution_id(agent: u64, n: u64, rng: &mut StdRng) -> Uuid {
    let mut b: [u8; 16] = rng.random();
    b[..4].copy_from_slice(&u32::try_from(agent).unwrap_or(u32::MAX).to_be_bytes());
    let n = u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    b[4] = n[1];
    b[5] = n[2];
    b[6] = 0;
    b[7] = n[3];
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

/// The `i`-th agent id for a seed.
pub fn agent_id(seed: u64, i: u64) -> Uuid {
    random_uuid(&mut agent_rng(seed, i))
}

/// One generated row.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    agent_id: String,
    start: i64,
    end: i64,
    status: Status,
    input: String,
    output: Option<String>,
    error: Option<String>,
    time_ms: Option<i64>,
}

const PROMPTS: &[&str] = &[
    "Summarise the customer ticket",
    "Draft a reply to the supplier",
    "Classify the incoming invoice",
    "Extract the action items from the meeting notes",
    "Translate the product description",
    "Check the contract for renewal terms",
];

const ERRORS: &[&str] = &[
    "upstream model timed out",
    "rate limited by the model provider",
    "tool call failed: search backend unavailable",
    "output failed validation",
];

fn generate_agent(seed: u64, i: u64, per_agent: u64, now: i64, span_ms: i64) -> Vec<Row> {
    let mut rng = agent_rng(seed, i);
    let agent = random_uuid(&mut rng).to_string();
    let mut rows = Vec::with_capacity(usize::try_from(per_agent).unwrap_or(0));
    for n in 0..per_agent {
        let id = execution_id(i, n, &mut rng).to_string();
        let start = now - rng.random_range(0..span_ms.max(1));
        let roll: f64 = rng.random();
        let status = if roll < 0.92 {
            Status::Completed
        } else if roll < 0.98 {
            Status::Failed
        } else {
            Status::Cancelled
        };
        // Log-normal run time: median 250 ms, sigma 0.6 (p95 near 670 ms).
        #[allow(clippy::cast_possible_truncation)]
        let time = ((250.0 * (0.6 * standard_normal(&mut rng)).exp()).round() as i64).max(1);
        let prompt = PROMPTS[rng.random_range(0..PROMPTS.len())];
        let (output, error, time_ms, end) = match status {
            Status::Completed => (
                Some(format!(
                    r#"{{"response":"{prompt}: done (#{n})","tokens_used":{}}}"#,
                    rng.random_range(40..900)
                )),
                None,
                Some(time),
                start + time,
            ),
            Status::Failed => (
                None,
                Some(ERRORS[rng.random_range(0..ERRORS.len())].to_owned()),
                Some(time),
                start + time,
            ),
            _ => (None, None, None, start + time / 2),
        };
        rows.push(Row {
            id,
            agent_id: agent.clone(),
            start,
            end,
            status,
            input: format!(r#"{{"prompt":"{prompt} #{n}"}}"#),
            output,
            error,
            time_ms,
        });
    }
    rows
}

/// The multi-row insert. SQLite gets anonymous `?` parameters: looking up a numbered `$N`
/// parameter's name is a linear scan in SQLite, which made 12,000-parameter statements
/// quadratic (87 % of seed time); PostgreSQL gets `$N`, reusing start/end for created/updated.
fn insert_sql(backend: Backend, rows: usize) -> Arc<str> {
    let mut sql = String::from(
        "INSERT INTO executions (id, agent_id, user_id, execution_start, execution_end, status, \
         input_data, output_data, error_message, execution_time_ms, attempts, created_at, \
         updated_at) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        match backend {
            Backend::Sqlite => sql.push_str("(?,?,?,?,?,?,?,?,?,?,1,?,?)"),
            Backend::Postgres => {
                let b = r * 10;
                let p: Vec<String> = (1..=10).map(|k| format!("${}", b + k)).collect();
                sql.push_str(&format!("({},1,${},${})", p.join(","), b + 4, b + 5));
            }
        }
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql.into()
}

async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    sql: &Arc<str>,
    rows: &[Row],
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    // Audited: the text holds only placeholders; every value is bound.
    let mut q = sqlx::query::<Any>(AssertSqlSafe(sql.clone()));
    for r in rows {
        q = q
            .bind(r.id.clone())
            .bind(r.agent_id.clone())
            .bind(user_id.to_owned())
            .bind(r.start)
            .bind(r.end)
            .bind(r.status.as_str())
            .bind(r.input.clone())
            .bind(r.output.clone())
            .bind(r.error.clone())
            .bind(r.time_ms);
        if backend == Backend::Sqlite {
            q = q.bind(r.start).bind(r.end);
        }
    }
    Ok(q.execute(conn).await?.rows_affected())
}

/// Seeds the database described by `cfg`.
pub async fn seed(cfg: &SeedConfig) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    let sizes = PoolSizes { api: 2, worker: 1 };
    let db = Db::connect(&cfg.db.url, sizes, Arc::new(Metrics::new())).await?;
    let hasher = {
        let params = cfg.hash;
        tokio::task::spawn_blocking(move || PasswordHasher::new(params, 2))
            .await
            .map_err(PasswordError::from)??
    };
    let mut conn = db.pool().acquire().await?;
    if db.backend() == Backend::Sqlite {
        conn.execute("PRAGMA cache_size = -524288").await?;
        // A bulk load that can be rerun: skip the fsyncs (an OS crash mid-seed means reseeding).
        conn.execute("PRAGMA synchronous = OFF").await?;
    }

    let mut loadtest_id = String::new();
    for account in &cfg.accounts {
        let hash = hasher.hash(account.password.clone()).await?;
        let id = users::upsert(
            &mut conn,
            &Uuid::new_v4().to_string(),
            &account.username,
            &hash,
            now_millis(),
        )
        .await?;
        if account.username == "loadtest" {
            loadtest_id = id;
        }
    }

    let existing: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT agent_id, COUNT(*) FROM executions GROUP BY agent_id",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let per_agent = cfg.executions_per_agent;
    let agent_ids: Vec<Uuid> = (0..cfg.agents).map(|i| agent_id(cfg.seed, i)).collect();
    let todo: Vec<u64> = (0..cfg.agents)
        .filter(|&i| {
            let have = existing
                .get(&agent_ids[usize::try_from(i).unwrap_or(usize::MAX)].to_string())
                .copied()
                .unwrap_or(0);
            u64::try_from(have).unwrap_or(0) < per_agent
        })
        .collect();
    let skipped = cfg.agents - todo.len() as u64;

    // Generator task -> bounded channel -> this task inserts.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Row>>(8);
    let seed = cfg.seed;
    let now = now_millis();
    let span_ms = i64::try_from(cfg.span.as_millis()).unwrap_or(i64::MAX);
    let generator = tokio::task::spawn_blocking(move || {
        for i in todo {
            if tx
                .blocking_send(generate_agent(seed, i, per_agent, now, span_ms))
                .is_err()
            {
                break;
            }
        }
    });

    let backend = db.backend();
    let full_sql = insert_sql(backend, ROWS_PER_STATEMENT);
    let mut pending: Vec<Row> = Vec::with_capacity(ROWS_PER_STATEMENT * 2);
    let mut inserted = 0u64;
    let mut in_tx = 0usize;
    conn.execute("BEGIN").await?;
    while let Some(rows) = rx.recv().await {
        pending.extend(rows);
        while pending.len() >= ROWS_PER_STATEMENT {
            let chunk: Vec<Row> = pending.drain(..ROWS_PER_STATEMENT).collect();
            inserted += insert_rows(&mut conn, backend, &full_sql, &chunk, &loadtest_id).await?;
            in_tx += chunk.len();
            if in_tx >= ROWS_PER_TRANSACTION {
                conn.execute("COMMIT").await?;
                conn.execute("BEGIN").await?;
                in_tx = 0;
            }
        }
    }
    if !pending.is_empty() {
        let sql = insert_sql(backend, pending.len());
        inserted += insert_rows(&mut conn, backend, &sql, &pending, &loadtest_id).await?;
    }
    conn.execute("COMMIT").await?;
    if generator.await.is_err() {
        tracing::error!("row generator task panicked");
    }

    if inserted > 0 {
        match db.backend() {
            Backend::Sqlite => {
                conn.execute("ANALYZE").await?;
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            }
            Backend::Postgres => {
                // Fresh statistics and a visibility map, so per-agent scans stay index-only.
                conn.execute("VACUUM ANALYZE executions").await?;
            }
        }
    }
    drop(conn);

    if let Some(path) = &cfg.export_agents {
        write_csv(path, &agent_ids).map_err(|message| SeedError::Export {
            path: path.clone(),
            message,
        })?;
    }
    db.close().await;
    Ok(SeedReport {
        agents: cfg.agents,
        agents_skipped: skipped,
        executions_inserted: inserted,
        accounts: cfg.accounts.len(),
        agent_ids,
        elapsed: started.elapsed(),
    })
}

/// Writes `agent_id` then one id per line.
fn write_csv(path: &std::path::Path, ids: &[Uuid]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| e.to_string())?;
    w.write_record(["agent_id"]).map_err(|e| e.to_string())?;
    for id in ids {
        w.write_record([id.to_string()])
            .map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_per_seed() {
        assert_eq!(agent_id(42, 7), agent_id(42, 7));
        assert_ne!(agent_id(42, 7), agent_id(42, 8));
        assert_ne!(agent_id(42, 7), agent_id(43, 7));
        let a = generate_agent(1, 3, 5, 1_000_000, 1000);
        let b = generate_agent(1, 3, 5, 1_000_000, 1000);
        assert_eq!(
            a.iter().map(|r| &r.id).collect::<Vec<_>>(),
            b.iter().map(|r| &r.id).collect::<Vec<_>>()
        );
        assert_eq!(a[0].agent_id, agent_id(1, 3).to_string());
        // Ids sort by (agent, execution) and stay unique and well-formed.
        let mut rng = agent_rng(9, 0);
        let ids: Vec<String> = [(0, 0), (0, 1), (0, 4096), (0, 70_000), (1, 0), (2, 5)]
            .iter()
            .map(|&(i, n)| execution_id(i, n, &mut rng).to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(
            ids.iter()
                .all(|id| Uuid::parse_str(id).unwrap().get_version_num() == 8)
        );
    }

    #[test]
    fn insert_sql_numbers_parameters() {
        let sql = insert_sql(Backend::Postgres, 2);
        assert!(sql.contains("($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,1,$4,$5)"));
        assert!(sql.contains("($11,$12,$13,$14,$15,$16,$17,$18,$19,$20,1,$14,$15)"));
        let sql = insert_sql(Backend::Sqlite, 2);
        assert!(sql.ends_with(
            "(?,?,?,?,?,?,?,?,?,?,1,?,?),(?,?,?,?,?,?,?,?,?,?,1,?,?) ON CONFLICT (id) DO NOTHING"
        ));
    }
}
