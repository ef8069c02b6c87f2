//! One worker: claims an execution from the database queue, runs the simulated agent, records
//! the outcome. Retiring (scale-down) lets the current run finish; shutdown abandons it and
//! returns it to the queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::db::executions::{self, Claimed, Outcome};
use crate::metrics::{Metrics, RequeueReason};
use crate::model::{Status, now_millis};
use crate::runtime::agent::{AgentConfig, FAILURE_MESSAGE, output_for};
use crate::timing::RequestTiming;

/// What every worker shares.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// The queue lives here.
    pub db: Db,
    /// Gauges and counters.
    pub metrics: Arc<Metrics>,
    /// Signalled when an execution is enqueued.
    pub wakeup: Arc<Notify>,
    /// Agent behaviour.
    pub agent: AgentConfig,
    /// How long a claim stays ours without finishing.
    pub lease: Duration,
    /// Idle workers look at the queue at least this often.
    pub poll_interval: Duration,
}

/// Runs one worker until `retire` (after the current run) or `shutdown` (abandoning it).
pub async fn run(
    ctx: WorkerContext,
    id: usize,
    retire: CancellationToken,
    shutdown: CancellationToken,
) {
    tracing::debug!(worker = id, "worker started");
    while !retire.is_cancelled() && !shutdown.is_cancelled() {
        match claim(&ctx).await {
            Ok(Some(claimed)) => execute(&ctx, id, claimed, &shutdown).await,
            Ok(None) => {
                tokio::select! {
                    () = ctx.wakeup.notified() => {}
                    () = tokio::time::sleep(ctx.poll_interval) => {}
                    () = retire.cancelled() => {}
                    () = shutdown.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::warn!(worker = id, error = %e, "claiming from the queue failed; backing off");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }
    tracing::debug!(worker = id, "worker stopped");
}

async fn claim(ctx: &WorkerContext) -> Result<Option<Claimed>, sqlx::Error> {
    {
        let mut reader = ctx.db.acquire(&RequestTiming::default()).await?;
        if !executions::has_pending(&mut reader).await? {
            return Ok(None);
        }
    }
    let mut conn = ctx.db.acquire_writer(&RequestTiming::default()).await?;
    let now = now_millis();
    let lease_ms = i64::try_from(ctx.lease.as_millis()).unwrap_or(i64::MAX);
    executions::claim_next(
        &mut conn,
        ctx.db.backend(),
        now,
        now.saturating_add(lease_ms),
    )
    .await
}

async fn execute(ctx: &WorkerContext, id: usize, claimed: Claimed, shutdown: &CancellationToken) {
    ctx.metrics.add_workers_busy(1);
    let plan = ctx.agent.plan(&mut rand::rng());
    let started = Instant::now();
    let finished = tokio::select! {
        () = tokio::time::sleep(plan.latency) => true,
        () = shutdown.cancelled() => false,
    };
    if finished {
        let outcome = if plan.fails {
            Outcome::Failed {
                error_message: FAILURE_MESSAGE.to_owned(),
            }
        } else {
            let prompt = serde_json::from_str::<serde_json::Value>(&claimed.input_data)
                .ok()
                .and_then(|v| v.get("prompt").and_then(|p| p.as_str()).map(str::to_owned))
                .unwrap_or_default();
            Outcome::Completed {
                output_json: output_for(&prompt, &claimed.agent_id),
            }
        };
        let took = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match record(ctx, &claimed, &outcome, took).await {
            Ok(true) => ctx.metrics.count_finished(if plan.fails {
                Status::Failed
            } else {
                Status::Completed
            }),
            Ok(false) => {
                tracing::warn!(worker = id, execution = %claimed.id, "claim lost before finishing (lease expired)")
            }
            Err(e) => {
                tracing::error!(worker = id, execution = %claimed.id, error = %e, "recording the outcome failed; the lease will requeue it")
            }
        }
    } else {
        match requeue(ctx, &claimed).await {
            Ok(true) => {
                ctx.metrics.count_requeued(RequeueReason::Shutdown, 1);
                tracing::info!(worker = id, execution = %claimed.id, "returned to the queue at shutdown");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(worker = id, execution = %claimed.id, error = %e, "requeue at shutdown failed; the lease will requeue it")
            }
        }
    }
    ctx.metrics.add_workers_busy(-1);
}

async fn record(
    ctx: &WorkerContext,
    claimed: &Claimed,
    outcome: &Outcome,
    took: i64,
) -> Result<bool, sqlx::Error> {
    let mut conn = ctx.db.acquire_writer(&RequestTiming::default()).await?;
    executions::finish(&mut conn, claimed, outcome, now_millis(), took).await
}

async fn requeue(ctx: &WorkerContext, claimed: &Claimed) -> Result<bool, sqlx::Error> {
    let mut conn = ctx.db.acquire_writer(&RequestTiming::default()).await?;
    executions::requeue(&mut conn, claimed, now_millis()).await
}
