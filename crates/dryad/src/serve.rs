//! `dryad serve`: opens the database, starts the worker pool and serves HTTP until shutdown,
//! then drains in-flight requests and returns running executions to the queue.

use std::sync::Arc;

use rand::Rng;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::app;
use crate::auth::{PasswordError, PasswordHasher, TokenKeys};
use crate::config::ServeConfig;
use crate::db::{Db, DbError};
use crate::fault::{self, Faults};
use crate::metrics::Metrics;
use crate::runtime::{WorkerContext, pool};
use crate::state::AppState;

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// argon2 parameters.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Serving HTTP failed.
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The planted faults cannot be planted together.
    #[error("--fault {0}")]
    Fault(#[from] fault::FaultSetError),
    /// Dropping or restoring the history indexes failed.
    #[error("--fault missing-index: changing the history indexes failed: {0}")]
    FaultSchema(sqlx::Error),
}

/// Opens the database and assembles the handlers' state.
pub async fn build_state(cfg: &ServeConfig) -> Result<AppState, ServeError> {
    let metrics = Arc::new(Metrics::new());
    let db = Db::connect(&cfg.db.url, cfg.pool_sizes(), metrics.clone()).await?;
    let secret = match &cfg.jwt_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "DRYAD_JWT_SECRET is unset: signing tokens with a random per-process key; \
                 tokens will not survive a restart"
            );
            rand::rng().random::<[u8; 32]>().to_vec()
        }
    };
    let tokens = TokenKeys::new(&secret, cfg.token_ttl);
    let hash = cfg.hash;
    let concurrency = cfg.hash_concurrency;
    let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(hash, concurrency))
        .await
        .map_err(PasswordError::from)??
        .with_queue_limit(cfg.login_queue_max);
    let faults = Faults::new(cfg.faults.clone()).map_err(ServeError::Fault)?;
    fault::schema::apply(&db, faults.missing_index())
        .await
        .map_err(ServeError::FaultSchema)?;
    faults.log_active();
    Ok(AppState::new(db, tokens, hasher, metrics)
        .with_login_throttle(cfg.throttle)
        .with_idempotency_window(cfg.idempotency_window)
        .with_faults(faults))
}

/// The worker context for a state and config: the workers draw from their own pool.
pub fn worker_context(state: &AppState, cfg: &ServeConfig) -> WorkerContext {
    WorkerContext {
        db: state.db.for_workers(),
        metrics: state.metrics.clone(),
        wakeup: state.queue_wakeup.clone(),
        agent: cfg.agent,
        lease: cfg.lease,
        poll_interval: cfg.poll_interval,
    }
}

/// Serves on `listener` until `shutdown` is cancelled, then drains and stops.
pub async fn run(
    cfg: ServeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let state = build_state(&cfg).await?;
    tracing::info!(
        backend = ?state.db.backend(),
        pool_size = cfg.db.pool_size,
        worker_pool_size = cfg.worker_pool_size,
        workers_min = cfg.autoscale.min,
        workers_max = cfg.autoscale.max,
        header_read_timeout = ?cfg.http.head,
        body_read_timeout = ?cfg.http.body,
        keep_alive_timeout = ?cfg.http.keep_alive,
        shutdown_timeout = ?cfg.http.shutdown,
        hash_concurrency = cfg.hash_concurrency,
        login_queue_max = cfg.login_queue_max,
        login_failures_per_username = cfg.throttle.per_username,
        login_failures_per_address = cfg.throttle.per_address,
        login_failure_window = ?cfg.throttle.window,
        idempotency_window = ?cfg.idempotency_window,
        "dryad starting"
    );
    if let Some(faults) = &state.faults {
        fault::spawn_crash_timer(faults);
    }
    let purge = tokio::spawn(purge_idempotency_keys(
        state.db.for_workers(),
        state.metrics.clone(),
        cfg.idempotency_window,
        shutdown.clone(),
    ));
    let workers = tokio::spawn(pool::supervise(
        worker_context(&state, &cfg),
        cfg.autoscale,
        shutdown.clone(),
    ));
    crate::server::serve(
        listener,
        app(state.clone()),
        cfg.http,
        state.metrics.clone(),
        shutdown.clone(),
    )
    .await;
    tracing::info!("HTTP drained; waiting for workers to return their executions");
    shutdown.cancel();
    if let Err(e) = workers.await {
        tracing::error!(error = %e, "worker pool task failed");
    }
    let _ = purge.await;
    state.db.close().await;
    tracing::info!("dryad stopped");
    Ok(())
}

/// Deletes expired idempotency keys once per `window` (at most every minute, at least every
/// second) until `shutdown`. A key past its window is already ignored by `POST /execute`; this
/// only keeps the table from growing.
pub async fn purge_idempotency_keys(
    db: Db,
    metrics: Arc<Metrics>,
    window: std::time::Duration,
    shutdown: CancellationToken,
) {
    let period = window.clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let timing = crate::timing::RequestTiming::default();
        let purged = async {
            let mut conn = db.acquire_writer(&timing).await?;
            crate::db::idempotency::purge_expired(&mut conn, crate::model::now_millis()).await
        }
        .await;
        match purged {
            Ok(0) => {}
            Ok(n) => {
                metrics.count_idempotency_purged(n);
                tracing::debug!(purged = n, "expired idempotency keys deleted");
            }
            Err(e) => tracing::warn!(error = %e, "purging expired idempotency keys failed"),
        }
    }
}
