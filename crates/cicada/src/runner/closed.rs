//! The closed model: keep the planned number of users alive, spawning and stopping them as the
//! plan (or the handle) moves the target; each user loops over its tasks.
//!
//! The controller ticks every 5 ms but does O(1) work per tick while no user ends: every user
//! task bumps a shared exit counter when it ends (however it ends: by itself, stopped, aborted),
//! and the controller prunes its lists of handles only while that counter is ahead of the
//! handles it has already removed. With
//! 10,000 idle users that is no scanning at all, instead of 2 million handle checks a second.
//!
//! Users are numbered in the whole run's order, also when this generator runs only a segment
//! of it ([`crate::segment`]): when the whole plan holds `D` users they are the users
//! `k = 0..D`, user `k` of the type the run's weighted round-robin gives its `k`-th user; this
//! generator holds those of its stripe (`share(D)` of them, its `j`-th being the run's
//! `global_index(j)`), so it spawns user `k` when the whole plan reaches `k + 1` users and a
//! lower target stops the highest `k` first (last in, first out, like Locust). A user spawned
//! again into a slot that was emptied keeps its slot's type, so the mix stays exact at every
//! level.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::spread::GlobalTypes;
use super::user::{StopSignal, run_closed_user};
use super::vu::{Vu, VuIdentity};
use crate::http::UserClient;

/// How often the controller re-reads the plan.
const TICK: Duration = Duration::from_millis(5);

/// One of this generator's user slots: the `j`-th of its stripe.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The whole run's index of the slot's user.
    global: u64,
    user_type: usize,
    /// Users spawned into this slot so far.
    spawns: u64,
}

/// Run the closed model until the plan ends, the iteration bound is used up, or a stop.
pub async fn drive(shared: &Arc<Shared>) {
    let mut active: Vec<(StopSignal, JoinHandle<()>)> = Vec::new();
    let mut retiring: Vec<JoinHandle<()>> = Vec::new();
    let mut types = GlobalTypes::new(shared.program.user_types.iter().map(|u| u.weight));
    let mut slots: Vec<Slot> = Vec::new();
    let mut spawned = 0u64;
    let exits = Arc::new(AtomicU64::new(0));
    let mut exits_seen = 0u64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let elapsed = shared.start.elapsed();
        if shared.stop.is_cancelled() || shared.plan.run_time.is_some_and(|t| elapsed >= t) {
            break;
        }
        let exhausted = shared
            .iteration_limit
            .is_some_and(|n| shared.iterations.load(Ordering::Relaxed) >= n);
        // Every exit counted belongs to exactly one handle still listed; `exits_seen` counts the
        // handles removed so far. A task counts its exit just before it is marked finished, so
        // a scan can miss it: then the counts still differ and the next tick scans again.
        if exits.load(Ordering::Relaxed) != exits_seen {
            let before = active.len() + retiring.len();
            active.retain(|(_, h)| !h.is_finished());
            retiring.retain(|h| !h.is_finished());
            exits_seen += (before - active.len() - retiring.len()) as u64;
        }
        if exhausted && active.is_empty() {
            break;
        }
        // The whole run's users now, and this generator's part of them.
        let whole = (shared.level(elapsed) + 1e-9).floor().max(0.0) as u64;
        let desired = usize::try_from(shared.segment.share(whole)).unwrap_or(usize::MAX);
        while !exhausted && active.len() < desired {
            let j = active.len();
            if j == slots.len() {
                let global = shared.segment.global_index(j as u64);
                slots.push(Slot {
                    global,
                    user_type: types.type_of(global),
                    spawns: 0,
                });
            }
            let slot = &mut slots[j];
            let user_type = slot.user_type;
            let identity = VuIdentity {
                user: slot.global,
                spawn: slot.spawns,
            };
            slot.spawns += 1;
            let vu = Vu::new(
                shared,
                identity,
                user_type,
                UserClient::new(Arc::clone(&shared.settings)),
                shared.shards.for_user(spawned),
            );
            spawned += 1;
            shared.spawned.fetch_add(1, Ordering::Relaxed);
            let alive = shared.alive[user_type].fetch_add(1, Ordering::Relaxed) + 1;
            shared.peak[user_type].fetch_max(alive, Ordering::Relaxed);
            let signal = StopSignal::default();
            // The guard goes in as an argument: wrapping the user's future in another async
            // block would store it twice in the task (≈ 4.5 KB more per user).
            let guard = ExitGuard(Arc::clone(&exits));
            let handle = tokio::spawn(run_closed_user(
                Arc::clone(shared),
                vu,
                signal.clone(),
                guard,
            ));
            active.push((signal, handle));
        }
        while active.len() > desired {
            // Last in, first out, like Locust.
            let (signal, handle) = active.pop().expect("len > desired >= 0");
            signal.stop();
            retiring.push(handle);
        }
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

/// Counts one exit when dropped: at the end of a user task, or when an aborted one is dropped.
pub struct ExitGuard(Arc<AtomicU64>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
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
