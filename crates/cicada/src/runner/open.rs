//! The open model: iterations start at the planned arrival rate whether or not earlier ones
//! finished, each timed from its *intended* start. A pool of virtual users (at most
//! `max_concurrency`) carries state between iterations; an arrival that finds none free is
//! dropped and counted.
//!
//! A generator running a segment of a split run ([`crate::segment`]) walks the whole run's
//! schedule — arrival `k`'s intended start is the one run's — and starts exactly the arrivals
//! `k` of its stripe; the iteration bound counts the whole run's arrivals, and its pool holds
//! its share of `max_concurrency` (at least one), virtual user `j` being the run's
//! `global_index(j)`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::Shared;
use super::clock::ArrivalClock;
use super::spread::GlobalTypes;
use super::user::{StopSignal, iteration, on_start};
use super::vu::{Vu, VuIdentity};
use crate::http::UserClient;

/// An iteration starting later than this after its intended time counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// Run the open model until the plan ends, the iteration bound is reached, or a stop.
pub async fn drive(shared: &Arc<Shared>, max_concurrency: u64) {
    let pool: Arc<Mutex<Vec<Vu>>> = Arc::new(Mutex::new(Vec::new()));
    let stop_users = StopSignal::default();
    let mut running = JoinSet::new();
    let mut types = GlobalTypes::new(shared.program.user_types.iter().map(|u| u.weight));
    let mut created = 0u64;
    let segment = &shared.segment;
    let max_concurrency = segment.share(max_concurrency).max(1);
    // The whole run's index of the next arrival, and of the next one that is this generator's.
    let mut arrival = 0u64;
    let mut mine = segment.global_index(0);
    // Time of the next intended arrival since the start, in whole nanoseconds so that a
    // constant rate never drifts by accumulated rounding.
    let mut next_ns: u128 = 0;
    let run_time = shared.plan.run_time.map(|t| t.as_nanos());
    let mut scheduled = 0u64;
    let clock = ArrivalClock::start();
    loop {
        if shared.stop.is_cancelled()
            || run_time.is_some_and(|t| next_ns >= t)
            || shared.plan.iterations.is_some_and(|n| arrival >= n)
        {
            break;
        }
        let offset = Duration::from_nanos(u64::try_from(next_ns).unwrap_or(u64::MAX));
        let rate = shared.level(offset);
        if rate <= 1e-9 {
            // Nothing to start yet: look again a millisecond later in plan time.
            next_ns += 1_000_000;
            continue;
        }
        let k = arrival;
        arrival += 1;
        next_ns += ((1e9 / rate).round() as u128).max(1);
        if k != mine {
            // Another generator's arrival.
            continue;
        }
        scheduled += 1;
        mine = segment.global_index(scheduled);
        let intended = shared.start + offset;
        if !clock.wait_until(intended, &shared.stop).await {
            break;
        }
        while running.try_join_next().is_some() {}
        shared.scheduled.fetch_add(1, Ordering::Relaxed);
        let vu = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let vu = match vu {
            Some(vu) => vu,
            None if created < max_concurrency => {
                let user = segment.global_index(created);
                created += 1;
                let user_type = types.type_of(user);
                shared.spawned.fetch_add(1, Ordering::Relaxed);
                let alive = shared.alive[user_type].fetch_add(1, Ordering::Relaxed) + 1;
                shared.peak[user_type].fetch_max(alive, Ordering::Relaxed);
                Vu::new(
                    shared,
                    VuIdentity { user, spawn: 0 },
                    user_type,
                    UserClient::new(Arc::clone(&shared.settings)),
                    shared.shards.for_user(created),
                )
            }
            None => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let now_in_flight = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        shared
            .peak_in_flight
            .fetch_max(now_in_flight, Ordering::Relaxed);
        let (shared2, pool2, stop2) = (Arc::clone(shared), Arc::clone(&pool), stop_users.clone());
        running.spawn(async move {
            let mut vu = vu;
            let lag = Instant::now().saturating_duration_since(intended);
            vu.shard.record_start(
                u64::try_from(lag.as_micros()).unwrap_or(u64::MAX),
                lag > LATE_AFTER,
            );
            // A user whose on_start failed retries it on its next arrival instead of
            // running a task without what on_start should have captured.
            if vu.started || on_start(&shared2, &mut vu).await {
                iteration(&shared2, &mut vu, Some(intended), &stop2).await;
            }
            pool2.lock().unwrap_or_else(|p| p.into_inner()).push(vu);
            shared2.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    shared.stop.cancel();
    stop_users.stop();
    let deadline = tokio::time::Instant::now() + shared.stop_timeout;
    while !running.is_empty() {
        tokio::select! {
            _ = running.join_next() => {}
            _ = tokio::time::sleep_until(deadline) => running.abort_all(),
            _ = shared.force.cancelled() => running.abort_all(),
        }
    }
}
