//! The database: two connection pools over SQLite or PostgreSQL (chosen by the URL), embedded
//! migrations per backend, and the queries the service runs.
//!
//! The API's requests and the agent runtime's workers draw from separate pools ([`PoolRole`]),
//! so a burst of busy workers cannot make HTTP requests queue for a connection. On SQLite both
//! pools read beside each other (WAL) and every write, from either side, still goes through the
//! one writer connection.
//!
//! Queries are runtime `query`/`query_as` with `$N` placeholders, which both backends accept;
//! only the queue claim differs (PostgreSQL uses `FOR UPDATE SKIP LOCKED`).

pub mod executions;
pub mod idempotency;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};

use crate::metrics::{Metrics, PoolReading};
use crate::timing::RequestTiming;

/// Who a pool serves; the `pool` label of its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolRole {
    /// HTTP request handlers (`--pool-size`).
    Api,
    /// The agent runtime: claiming, lease recovery, queue sampling, finishing executions
    /// (`--worker-pool-size`).
    Worker,
}

impl PoolRole {
    /// Both roles, API first.
    pub const ALL: [PoolRole; 2] = [PoolRole::Api, PoolRole::Worker];

    /// The metric label value: `api` or `worker`.
    pub fn label(self) -> &'static str {
        match self {
            PoolRole::Api => "api",
            PoolRole::Worker => "worker",
        }
    }
}

/// Most connections of each pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    /// The API's pool.
    pub api: u32,
    /// The workers' pool.
    pub worker: u32,
}

/// Which database server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (WAL mode, `synchronous=NORMAL`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The workers' pool size when `--worker-pool-size` is not given. Workers hold a
    /// connection for one short query at a time (has-pending, claim, finish), so a few serve
    /// 64 workers; on SQLite their writes go through the single writer connection anyway and
    /// the pool only carries their reads.
    pub fn default_worker_pool_size(self) -> u32 {
        match self {
            Backend::Sqlite => 2,
            Backend::Postgres => 4,
        }
    }

    /// Picks the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl(redact(url)))
        }
    }
}

/// Errors opening or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// Driver error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating {url} failed: {source}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// Migration error.
        source: sqlx::migrate::MigrateError,
    },
}

/// Strips a password from a URL for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The pools plus what the service needs to know about them. A handle draws from the pool of
/// its [`PoolRole`]: [`Db::connect`] gives the API's, [`Db::for_workers`] the workers'.
#[derive(Debug, Clone)]
pub struct Db {
    api: AnyPool,
    worker: AnyPool,
    sizes: PoolSizes,
    role: PoolRole,
    backend: Backend,
    metrics: Arc<Metrics>,
    /// SQLite only: a one-connection pool that every write goes through. SQLite admits one
    /// writer at a time anyway; queueing writers here (FIFO, no sleeping) replaces SQLite's
    /// busy handler, which sleeps in steps of up to 100 ms while holding a pooled connection,
    /// and keeps writers from waiting behind readers for a connection.
    writer: Option<AnyPool>,
}

impl Db {
    /// Opens (creating a SQLite file if missing) and migrates the database at `url`, with an
    /// API pool and a workers' pool (opened lazily) of `sizes`. The handle returned is the
    /// API's.
    pub async fn connect(
        url: &str,
        sizes: PoolSizes,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url_for_driver = match backend {
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            _ => url.to_owned(),
        };
        let connect_err = |source| DbError::Connect {
            url: redact(url),
            source,
        };
        let options = AnyConnectOptions::from_str(&url_for_driver).map_err(connect_err)?;
        let pool = Self::pool_options(backend, sizes.api)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| DbError::Migrate {
                url: redact(url),
                source,
            })?;
        let writer = match backend {
            Backend::Sqlite => Some(
                Self::pool_options(backend, 1)
                    .connect_with(options.clone())
                    .await
                    .map_err(connect_err)?,
            ),
            Backend::Postgres => None,
        };
        // The API pool has just proven the URL; the workers' connections open on first use.
        let worker = Self::pool_options(backend, sizes.worker).connect_lazy_with(options);
        Ok(Db {
            api: pool,
            worker,
            sizes,
            role: PoolRole::Api,
            backend,
            metrics,
            writer,
        })
    }

    /// The same database, drawing from the workers' pool.
    pub fn for_workers(&self) -> Db {
        Db {
            role: PoolRole::Worker,
            ..self.clone()
        }
    }

    /// The pool this handle draws from.
    pub fn role(&self) -> PoolRole {
        self.role
    }

    fn pool_options(backend: Backend, max_connections: u32) -> AnyPoolOptions {
        AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; NORMAL is durable
                        // across application crashes in WAL mode and skips an fsync per commit.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA cache_size = -65536").await?;
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                    }
                    Ok(())
                })
            })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool this handle draws from.
    pub fn pool(&self) -> &AnyPool {
        self.pool_of(self.role)
    }

    fn pool_of(&self, role: PoolRole) -> &AnyPool {
        match role {
            PoolRole::Api => &self.api,
            PoolRole::Worker => &self.worker,
        }
    }

    /// Configured maximum number of connections of this handle's pool.
    pub fn max_connections(&self) -> u32 {
        self.max_connections_of(self.role)
    }

    fn max_connections_of(&self, role: PoolRole) -> u32 {
        match role {
            PoolRole::Api => self.sizes.api,
            PoolRole::Worker => self.sizes.worker,
        }
    }

    /// Both pools' maximum, open and idle connections now, API first.
    pub fn readings(&self) -> [(PoolRole, PoolReading); 2] {
        PoolRole::ALL.map(|role| {
            let pool = self.pool_of(role);
            (
                role,
                PoolReading {
                    max: self.max_connections_of(role),
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                },
            )
        })
    }

    /// Takes a connection from this handle's pool, recording the wait in `timing` and in that
    /// pool's acquire-wait histogram.
    pub async fn acquire(
        &self,
        timing: &RequestTiming,
    ) -> Result<PoolConnection<Any>, sqlx::Error> {
        let start = Instant::now();
        let conn = self.pool().acquire().await;
        let waited = start.elapsed();
        timing.add_pool(waited);
        self.metrics.observe_pool_acquire(self.role, waited);
        conn
    }

    /// A connection to write with: SQLite's single writer connection, shared by both roles (the
    /// wait goes to this role's write-wait histogram), or a connection of this handle's pool on
    /// PostgreSQL. The wait is pool time.
    pub async fn acquire_writer(
        &self,
        timing: &RequestTiming,
    ) -> Result<PoolConnection<Any>, sqlx::Error> {
        match &self.writer {
            Some(writer) => {
                let start = Instant::now();
                let conn = writer.acquire().await;
                let waited = start.elapsed();
                timing.add_pool(waited);
                self.metrics.observe_write_wait(self.role, waited);
                conn
            }
            None => self.acquire(timing).await,
        }
    }

    /// `SELECT 1` round trip: is the database reachable?
    pub async fn ping(&self, timing: &RequestTiming) -> Result<(), sqlx::Error> {
        let mut conn = self.acquire(timing).await?;
        timing.db(conn.execute("SELECT 1")).await?;
        Ok(())
    }

    /// Closes every connection of both pools (waits for checked-out ones to come back).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.worker.close().await;
        self.api.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://dryad.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://postgres@127.0.0.1/test").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://x").is_err());
    }

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://dryad.db"), "sqlite://dryad.db");
    }
}
