//! What every request handler shares.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::db::Db;
use crate::fault::Faults;
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
    /// Planted faults (`--fault`); `None` in normal operation.
    pub faults: Option<Arc<Faults>>,
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
            faults: None,
        }
    }

    /// The same state with these faults planted (none: unchanged).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = (!faults.is_empty()).then(|| Arc::new(faults));
        self
    }
}
