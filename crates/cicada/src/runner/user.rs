//! What a virtual user does: `on_start`, then weighted task iterations separated by its wait,
//! then `on_stop`. Shared by the closed model (a loop per user) and the open model (one
//! iteration per arrival).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::exec::execute;
use super::flow;
use super::vu::Vu;
use crate::scenario::compile::CompiledStep;
use crate::scenario::model::Wait;

/// A stop signal that is cheap to poll on the hot path (an atomic load, no lock) and wakes a
/// user that is waiting.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    flag: Arc<AtomicBool>,
    wake: CancellationToken,
}

impl StopSignal {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.wake.cancel();
    }

    #[inline]
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    pub async fn stopped(&self) {
        self.wake.cancelled().await;
    }
}

/// Run `on_start`. A failed step ends it (later steps usually depend on it) and leaves the user
/// not started: it runs no task until a later `on_start` succeeds, so a failed login never turns
/// into a stream of requests without a token. Returns whether every step succeeded.
pub async fn on_start(shared: &Shared, vu: &mut Vu) -> bool {
    let ut = &shared.program.user_types[vu.user_type];
    if !ut.on_start.is_empty() {
        vu.draw(&shared.program, &shared.segment);
    }
    let mut ok = true;
    for step in &ut.on_start {
        if !execute(shared, vu, step, None).await {
            shared.on_start_failed[step.row].fetch_add(1, Ordering::Relaxed);
            ok = false;
            break;
        }
    }
    if ok && !vu.started {
        shared.users_started.fetch_add(1, Ordering::Relaxed);
    }
    vu.started = ok;
    ok
}

/// First delay before a closed-model user retries a failed `on_start`; it doubles on each
/// further failure up to [`ON_START_RETRY_MAX`].
pub const ON_START_RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest delay between two `on_start` attempts.
pub const ON_START_RETRY_MAX: Duration = Duration::from_secs(30);

/// Run `on_stop` once.
pub async fn on_stop(shared: &Shared, vu: &mut Vu) {
    let ut = &shared.program.user_types[vu.user_type];
    for step in &ut.on_stop {
        if !execute(shared, vu, step, None).await {
            break;
        }
    }
}

/// One task iteration: draw variables, pick a task by weight, run its steps in order (a failed
/// step ends the task). `intended` times the first step from the iteration's intended start.
/// Stops between steps once `stop` is cancelled.
pub async fn iteration(shared: &Shared, vu: &mut Vu, intended: Option<Instant>, stop: &StopSignal) {
    let program = &shared.program;
    vu.draw(program, &shared.segment);
    let ut = &program.user_types[vu.user_type];
    let ticket = vu.rng.random_range(0..ut.task_picker.total());
    let task = &ut.tasks[ut.task_picker.pick(ticket)];
    let mut timed_from = intended;
    if !task.plain {
        flow::run_steps(shared, vu, &task.steps, &mut timed_from, stop).await;
        return;
    }
    for step in &task.steps {
        let CompiledStep::Request(step) = step else {
            unreachable!("a plain task holds requests only")
        };
        if !execute(shared, vu, step, timed_from.take()).await || stop.is_stopped() {
            break;
        }
    }
}

/// Claim one iteration from this generator's part of the iteration bound; false when it is
/// used up.
pub fn claim_iteration(shared: &Shared) -> bool {
    match shared.iteration_limit {
        None => true,
        Some(limit) => shared.iterations.fetch_add(1, Ordering::Relaxed) < limit,
    }
}

/// The closed-model user: loop until stopped (or the iteration bound is used up).
/// The controller counts the user as alive when it spawns it; the user uncounts itself.
///
/// `exit` is dropped when the task ends or is aborted, which tells the controller it ended.
pub async fn run_closed_user(
    shared: Arc<Shared>,
    mut vu: Vu,
    stop: StopSignal,
    exit: super::closed::ExitGuard,
) {
    let _exit = exit;
    let mut retry = ON_START_RETRY_FIRST;
    let mut ready = on_start(&shared, &mut vu).await;
    let wait = shared.program.user_types[vu.user_type].wait;
    while !stop.is_stopped() {
        if !ready {
            vu.client.before_wait(retry);
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stop.stopped() => break,
            }
            retry = (retry * 2).min(ON_START_RETRY_MAX);
            ready = on_start(&shared, &mut vu).await;
            continue;
        }
        if !claim_iteration(&shared) {
            break;
        }
        // Only pacing waits depend on how long the iteration took.
        let paced = matches!(wait, Wait::ConstantPacing(_) | Wait::ConstantThroughput(_));
        let began = paced.then(Instant::now);
        iteration(&shared, &mut vu, None, &stop).await;
        let took = began.map_or(Duration::ZERO, |b| b.elapsed());
        let pause = wait_time(wait, took, &mut vu);
        if !pause.is_zero() {
            // A long wait parks the connection: the stream stays open, its buffers are freed.
            vu.client.before_wait(pause);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.stopped() => break,
            }
        }
    }
    on_stop(&shared, &mut vu).await;
    shared.alive[vu.user_type].fetch_sub(1, Ordering::Relaxed);
}

/// The wait after an iteration that took `took`.
pub fn wait_time(wait: Wait, took: Duration, vu: &mut Vu) -> Duration {
    match wait {
        Wait::None => Duration::ZERO,
        Wait::Constant(d) => d,
        Wait::Between(lo, hi) => {
            if lo == hi {
                lo
            } else {
                Duration::from_secs_f64(vu.rng.random_range(lo.as_secs_f64()..=hi.as_secs_f64()))
            }
        }
        Wait::ConstantPacing(interval) => interval.saturating_sub(took),
        Wait::ConstantThroughput(per_s) => {
            Duration::from_secs_f64(1.0 / per_s).saturating_sub(took)
        }
    }
}
