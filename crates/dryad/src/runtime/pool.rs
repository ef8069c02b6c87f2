//! The worker pool's supervisor: recovers expired leases, samples the queue, asks the
//! [`Autoscaler`] for a worker count and starts or retires workers to match.

use std::time::Instant;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::db::executions;
use crate::metrics::RequeueReason;
use crate::model::now_millis;
use crate::runtime::autoscaler::{Action, AutoscaleConfig, Autoscaler};
use crate::runtime::worker::{self, WorkerContext};
use crate::timing::RequestTiming;

struct Running {
    retire: CancellationToken,
}

/// Runs the pool until `shutdown`; then every worker abandons its run (returned to the queue)
/// and this returns once all have stopped.
pub async fn supervise(ctx: WorkerContext, cfg: AutoscaleConfig, shutdown: CancellationToken) {
    match recover_expired(&ctx).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            requeued = n,
            "returned executions with expired leases to the queue"
        ),
        Err(e) => tracing::error!(error = %e, "lease recovery at start failed"),
    }
    let origin = Instant::now();
    let mut scaler = Autoscaler::new(cfg);
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut workers: Vec<Running> = Vec::new();
    let mut next_id = 0usize;
    resize(
        &ctx,
        &mut tasks,
        &mut workers,
        &mut next_id,
        scaler.current(),
        &shutdown,
    );
    ctx.metrics.set_workers_desired(scaler.current());
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        }
        if let Err(e) = recover_expired(&ctx).await {
            tracing::warn!(error = %e, "lease recovery failed");
        }
        let pending = match queue_depth(&ctx).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "sampling the queue depth failed");
                continue;
            }
        };
        ctx.metrics.set_queue_depth(pending);
        let busy = u64::try_from(ctx.metrics.workers_busy()).unwrap_or(0);
        let decision = scaler.step(origin.elapsed(), u64::try_from(pending).unwrap_or(0), busy);
        ctx.metrics.set_workers_desired(decision.recommended);
        if decision.action != Action::Hold {
            tracing::info!(
                action = ?decision.action,
                from = decision.from,
                to = decision.to,
                recommended = decision.recommended,
                pending,
                busy,
                "autoscaler decision"
            );
            ctx.metrics.count_scale(decision.action == Action::ScaleUp);
            resize(
                &ctx,
                &mut tasks,
                &mut workers,
                &mut next_id,
                decision.to,
                &shutdown,
            );
        }
    }
    tracing::info!(workers = workers.len(), "stopping workers");
    while tasks.join_next().await.is_some() {}
    ctx.metrics.set_workers_current(0);
}

fn resize(
    ctx: &WorkerContext,
    tasks: &mut JoinSet<()>,
    workers: &mut Vec<Running>,
    next_id: &mut usize,
    target: usize,
    shutdown: &CancellationToken,
) {
    while workers.len() < target {
        let retire = CancellationToken::new();
        tasks.spawn(worker::run(
            ctx.clone(),
            *next_id,
            retire.clone(),
            shutdown.clone(),
        ));
        workers.push(Running { retire });
        *next_id += 1;
    }
    while workers.len() > target {
        if let Some(w) = workers.pop() {
            w.retire.cancel();
        }
    }
    ctx.metrics.set_workers_current(workers.len());
}

async fn recover_expired(ctx: &WorkerContext) -> Result<u64, sqlx::Error> {
    let mut conn = ctx.db.acquire_writer(&RequestTiming::default()).await?;
    let n = executions::requeue_expired(&mut conn, now_millis()).await?;
    if n > 0 {
        ctx.metrics.count_requeued(RequeueReason::LeaseExpired, n);
        ctx.wakeup.notify_waiters();
    }
    Ok(n)
}

async fn queue_depth(ctx: &WorkerContext) -> Result<i64, sqlx::Error> {
    let mut conn = ctx.db.acquire(&RequestTiming::default()).await?;
    executions::queue_depth(&mut conn).await
}
