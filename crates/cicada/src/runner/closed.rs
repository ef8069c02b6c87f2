//! The closed model: keep the planned number of users alive, spawning and stopping them as the
//! plan (or the handle) moves the target; each user loops over its tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::spread::TypeSpread;
use super::user::{StopSignal, run_closed_user};
use super::vu::Vu;
use crate::http::UserClient;

/// How often the controller re-reads the plan.
const TICK: Duration = Duration::from_millis(5);

/// Run the closed model until the plan ends, the iteration bound is used up, or a stop.
pub async fn drive(shared: &Arc<Shared>) {
    let mut active: Vec<(StopSignal, JoinHandle<()>)> = Vec::new();
    let mut retiring: Vec<JoinHandle<()>> = Vec::new();
    let mut spread = TypeSpread::new(shared.program.user_types.iter().map(|u| u.weight));
    let mut next_index = 0u64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let elapsed = shared.start.elapsed();
        if shared.stop.is_cancelled() || shared.plan.run_time.is_some_and(|t| elapsed >= t) {
            break;
        }
        let exhausted = shared
            .plan
            .iterations
            .is_some_and(|n| shared.iterations.load(Ordering::Relaxed) >= n);
        active.retain(|(_, h)| !h.is_finished());
        if exhausted && active.is_empty() {
            break;
        }
        let desired = (shared.level(elapsed) + 1e-9).floor().max(0.0) as usize;
        while !exhausted && active.len() < desired {
            let user_type = spread.next_type();
            let index = next_index;
            next_index += 1;
            let vu = Vu::new(
                &shared.program,
                index,
                user_type,
                shared.seed,
                UserClient::new(Arc::clone(&shared.settings)),
                shared.shards.for_user(index),
            );
            let alive = shared.alive[user_type].fetch_add(1, Ordering::Relaxed) + 1;
            shared.peak[user_type].fetch_max(alive, Ordering::Relaxed);
            let signal = StopSignal::default();
            let handle = tokio::spawn(run_closed_user(Arc::clone(shared), vu, signal.clone()));
            active.push((signal, handle));
        }
        while active.len() > desired {
            // Last in, first out, like Locust.
            let (signal, handle) = active.pop().expect("len > desired >= 0");
            signal.stop();
            retiring.push(handle);
        }
        retiring.retain(|h| !h.is_finished());
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.stop.cancelled() => {}
        }
    }
    shared.stop.cancel();
    for (signal, _) in &active {
        signal.stop();
    }
    let handles: Vec<JoinHandle<()>> = active.into_iter().map(|(_, h)| h).chain(retiring).collect();
    finish(handles, shared.stop_timeout, &shared.force).await;
}

/// Wait for tasks to end by themselves within `timeout` (or until `force`), then abort the rest.
pub async fn finish(
    mut pending: Vec<JoinHandle<()>>,
    timeout: Duration,
    force: &CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while let Some(last) = pending.last_mut() {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = force.cancelled() => break,
            _ = last => {}
        }
        pending.pop();
    }
    for h in &pending {
        h.abort();
    }
    for h in pending {
        let _ = h.await;
    }
}
