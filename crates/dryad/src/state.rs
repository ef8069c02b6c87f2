//! What every request handler shares.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::db::Db;
use crate::metrics::Metrics;

/// Shared state of one service instance; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database pool.
    pub db: Db,
    /// JWT keys.
    pub tokens: Arc<TokenKeys>,
    /// argon2id hasher.
    pub hasher: PasswordHasher,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Wakes an idle worker when an execution is enqueued.
    pub queue_wakeup: Arc<Notify>,
}

impl AppState {
    /// Assembles the state.
    pub fn new(db: Db, tokens: TokenKeys, hasher: PasswordHasher, metrics: Arc<Metrics>) -> Self {
        AppState {
            db,
            tokens: Arc::new(tokens),
            hasher,
            metrics,
            queue_wakeup: Arc::new(Notify::new()),
        }
    }
}
