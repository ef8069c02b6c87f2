//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::auth::{LoginThrottle, PasswordHasher, ThrottleConfig, TokenKeys};
use crate::db::Db;
use crate::fault::Faults;
use crate::metrics::Metrics;

/// How long an `Idempotency-Key` is remembered unless configured: 24 hours.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Shared state of one service instance; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database pool.
    pub db: Db,
    /// JWT keys.
    pub tokens: Arc<TokenKeys>,
    /// argon2id hasher.
    pub hasher: PasswordHasher,
    /// Failed-login limits.
    pub throttle: Arc<LoginThrottle>,
    /// How long an `Idempotency-Key` of `POST /execute` is remembered.
    pub idempotency_window: Duration,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Wakes an idle worker when an execution is enqueued.
    pub queue_wakeup: Arc<Notify>,
    /// Planted faults (`--fault`); `None` in normal operation.
    pub faults: Option<Arc<Faults>>,
}

impl AppState {
    /// Assembles the state, with the default failed-login limits ([`ThrottleConfig`]) and
    /// idempotency window ([`DEFAULT_IDEMPOTENCY_WINDOW`]).
    pub fn new(db: Db, tokens: TokenKeys, hasher: PasswordHasher, metrics: Arc<Metrics>) -> Self {
        AppState {
            db,
            tokens: Arc::new(tokens),
            hasher,
            throttle: Arc::new(LoginThrottle::new(ThrottleConfig::default())),
            idempotency_window: DEFAULT_IDEMPOTENCY_WINDOW,
            metrics,
            queue_wakeup: Arc::new(Notify::new()),
            faults: None,
        }
    }

    /// The same state with these failed-login limits.
    pub fn with_login_throttle(mut self, config: ThrottleConfig) -> Self {
        self.throttle = Arc::new(LoginThrottle::new(config));
        self
    }

    /// The same state remembering idempotency keys this long.
    pub fn with_idempotency_window(mut self, window: Duration) -> Self {
        self.idempotency_window = window;
        self
    }

    /// The same state with these faults planted (none: unchanged).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = (!faults.is_empty()).then(|| Arc::new(faults));
        self
    }
}
