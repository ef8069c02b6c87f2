//! Test support: a fresh database per test (SQLite in a temp dir, or a new PostgreSQL database
//! when `DATABASE_URL` points at a server), the service state over it, and request helpers.

#![allow(dead_code)]

pub mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use dryad::auth::{HashParams, PasswordHasher, TokenKeys};
use dryad::db::{Db, PoolSizes, users};
use dryad::metrics::Metrics;
use dryad::model::now_millis;
use dryad::{AppState, app};
use http_body_util::BodyExt as _;
use serde_json::Value;
use sqlx::{Connection as _, Executor as _};
use tower::ServiceExt as _;

/// The JWT secret the tests sign with.
pub const SECRET: &[u8] = b"dryad-test-secret";

/// A database that lives as long as the test.
pub struct TestDb {
    /// URL of the fresh database.
    pub url: String,
    /// Kept alive for SQLite.
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: (admin URL, database name) to drop.
    drop_pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database on the backend `DATABASE_URL` selects: a new database on the
    /// PostgreSQL server a `postgres://` URL names, else (unset, or `sqlite:`) SQLite in a
    /// temporary directory. Any other value fails the test rather than quietly testing SQLite
    /// instead of the backend that was asked for; an unreachable server fails it too.
    pub async fn new() -> TestDb {
        match std::env::var("DATABASE_URL") {
            Ok(other)
                if !other.starts_with("postgres://")
                    && !other.starts_with("postgresql://")
                    && !other.starts_with("sqlite:") =>
            {
                panic!(
                    "DATABASE_URL={other:?} names no backend the tests know: use \
                     postgres://USER@HOST:PORT/DB (a new database is made per test) or unset it \
                     (SQLite)"
                )
            }
            Ok(admin) if admin.starts_with("postgres") => {
                let name = format!("dryad_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to DATABASE_URL");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    drop_pg: Some((admin.clone(), name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("dryad.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    drop_pg: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.drop_pg.take() {
            // Drop runs outside async; do the cleanup on a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A service instance over a fresh database with the `loadtest` / `test123` account.
pub struct TestApp {
    /// Shared state (database, keys, metrics).
    pub state: AppState,
    /// The router.
    pub router: Router,
    /// Keeps the database alive.
    pub db: TestDb,
}

impl TestApp {
    /// Builds the app; tokens signed with [`SECRET`], cheap argon2 parameters.
    pub async fn new() -> TestApp {
        let db = TestDb::new().await;
        let metrics = Arc::new(Metrics::new());
        let pool = Db::connect(&db.url, PoolSizes { api: 4, worker: 2 }, metrics.clone())
            .await
            .expect("connect");
        let hasher = PasswordHasher::new(HashParams::TEST_ONLY, 2).expect("hasher");
        let state = AppState::new(
            pool,
            TokenKeys::new(SECRET, Duration::from_secs(600)),
            hasher,
            metrics,
        );
        let app = TestApp {
            router: app(state.clone()),
            state,
            db,
        };
        app.create_user("loadtest", "test123").await;
        app
    }

    /// Creates (or re-passwords) a user; returns its id.
    pub async fn create_user(&self, name: &str, password: &str) -> String {
        let hash = self
            .state
            .hasher
            .hash(password.to_owned())
            .await
            .expect("hash");
        let mut conn = self.state.db.pool().acquire().await.expect("conn");
        users::upsert(
            &mut conn,
            &uuid::Uuid::new_v4().to_string(),
            name,
            &hash,
            now_millis(),
        )
        .await
        .expect("upsert user")
    }

    /// Sends a request through the router.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            json,
        }
    }

    /// GET with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut b = Request::get(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// POST JSON with an optional bearer token.
    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut b = Request::post(path).header("content-type", "application/json");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// Logs in as `loadtest`.
    pub async fn token(&self) -> String {
        let r = self
            .post_json(
                "/api/v1/auth/login",
                None,
                &serde_json::json!({"username": "loadtest", "password": "test123"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json["access_token"].as_str().unwrap().to_owned()
    }

    /// Inserts a finished (or any-status) execution directly.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_execution(
        &self,
        agent: uuid::Uuid,
        status: &str,
        start_ms: i64,
        time_ms: Option<i64>,
    ) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let mut conn = self.state.db.pool().acquire().await.expect("conn");
        sqlx::query(
            "INSERT INTO executions (id, agent_id, user_id, execution_start, execution_end, status, \
             input_data, output_data, error_message, execution_time_ms, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, 1, $4, $4)",
        )
        .bind(id.to_string())
        .bind(agent.to_string())
        .bind(uuid::Uuid::nil().to_string())
        .bind(start_ms)
        .bind(time_ms.map(|t| start_ms + t))
        .bind(status)
        .bind(r#"{"prompt":"fixture"}"#)
        .bind(time_ms)
        .execute(&mut *conn)
        .await
        .expect("insert fixture");
        id
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub text: String,
    /// Body as JSON (Null if not JSON).
    pub json: Value,
}

impl Reply {
    /// Asserts the JSON error shape with this status and code.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.json["error"].as_str(),
            Some(code),
            "body: {}",
            self.text
        );
        assert!(
            self.json["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "no detail: {}",
            self.text
        );
        self.assert_server_timing();
    }

    /// Asserts a `Server-Timing` header with `db` and `app` durations.
    pub fn assert_server_timing(&self) {
        let v = self
            .headers
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Server-Timing header: {:?}", self.headers));
        assert!(v.contains("db;dur=") && v.contains("app;dur="), "{v}");
    }
}
