//! DRYAD: the agent-studio API that the load tests exercise.
//!
//! An axum service over SQLite (default, WAL mode) or PostgreSQL through two sqlx pools (the
//! API's, and the workers' so that busy workers cannot starve the API):
//! argon2id logins that issue HS256 tokens; agent executions accepted into a durable queue in
//! the database and run by an autoscaled pool of workers driving a simulated agent; an agent's
//! history paged newest first; per-agent aggregates; `/health`, `/ready`, Prometheus
//! `/metrics` and a generated OpenAPI document. Every response carries `Server-Timing`.
//!
//! The router is built by [`app`] from an [`AppState`], so tests drive it in-process:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tower::ServiceExt as _;
//! use dryad::{app, AppState, auth::{HashParams, PasswordHasher, TokenKeys}, metrics::Metrics};
//! use dryad::db::{Db, PoolSizes};
//!
//! let metrics = Arc::new(Metrics::new());
//! let db = Db::connect("sqlite://demo.db", PoolSizes { api: 4, worker: 2 }, metrics.clone()).await?;
//! let tokens = TokenKeys::new(b"secret", std::time::Duration::from_secs(3600));
//! let hasher = PasswordHasher::new(HashParams::OWASP, 1)?;
//! let state = AppState::new(db, tokens, hasher, metrics);
//! let response = app(state)
//!     .oneshot(axum::http::Request::get("/health").body(axum::body::Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), 200);
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod fault;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod seed;
pub mod serve;
pub mod server;
pub mod state;
pub mod timing;

pub use api::app;
pub use error::ApiError;
pub use state::AppState;
