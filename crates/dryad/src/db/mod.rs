//! The database: one connection pool over SQLite or PostgreSQL (chosen by the URL), embedded
//! migrations per backend, and the queries the service runs.
//!
//! Queries are runtime `query`/`query_as` with `$N` placeholders, which both backends accept;
//! only the queue claim differs (PostgreSQL uses `FOR UPDATE SKIP LOCKED`).

pub mod executions;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};

use crate::metrics::Metrics;
use crate::timing::RequestTiming;

/// Which database server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (WAL mode, `synchronous=NORMAL`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
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

/// The pool plus what the service needs to know about it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    max_connections: u32,
    metrics: Arc<Metrics>,
    /// SQLite only: a one-connection pool that every write goes through. SQLite admits one
    /// writer at a time anyway; queueing writers here (FIFO, no sleeping) replaces SQLite's
    /// busy handler, which sleeps in steps of up to 100 ms while holding a pooled connection,
    /// and keeps writers from waiting behind readers for a connection.
    writer: Option<AnyPool>,
}

impl Db {
    /// Opens (creating a SQLite file if missing) and migrates the database at `url`.
    pub async fn connect(
        url: &str,
        max_connections: u32,
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
        let pool = Self::pool_options(backend, max_connections)
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
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?,
            ),
            Backend::Postgres => None,
        };
        Ok(Db {
            pool,
            backend,
            max_connections,
            metrics,
            writer,
        })
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

    /// The underlying pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Configured maximum number of connections.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// Takes a connection, recording the wait in `timing` and in the acquire-wait histogram.
    pub async fn acquire(
        &self,
        timing: &RequestTiming,
    ) -> Result<PoolConnection<Any>, sqlx::Error> {
        let start = Instant::now();
        let conn = self.pool.acquire().await;
        let waited = start.elapsed();
        timing.add_pool(waited);
        self.metrics.observe_pool_acquire(waited);
        conn
    }

    /// A connection to write with: SQLite's single writer connection (the wait goes to the
    /// write-wait histogram), or any pooled connection on PostgreSQL. The wait is pool time.
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
                self.metrics.observe_write_wait(waited);
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

    /// Closes every connection (waits for checked-out ones to come back).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
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
