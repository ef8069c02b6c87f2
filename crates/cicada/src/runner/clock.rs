//! The open model's arrival clock: a thread that sleeps until each intended start on the
//! kernel's high-resolution timers and then wakes the arrival task.
//!
//! tokio's timer fires on whole milliseconds and rounds deadlines up, so an arrival waited for
//! with it starts up to ~1 ms late — and, timed from its intended start, that lateness lands in
//! the request's latency. Yielding until the exact instant instead burns the core between
//! arrivals (all of it at ≥ 1,000 arrivals/s). The clock thread sleeps on a precise timer and
//! wakes the task [`LEAD`] before the instant (its wake-up takes ~0.1 ms to reach the task); the
//! task yields through the rest. Cost: two wake-ups and ≤ ~0.15 ms of yielding per arrival.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Waits shorter than this are yielded through instead of handed to the clock thread.
const SPIN_BELOW: Duration = Duration::from_micros(100);

/// The clock thread wakes the task this long before the instant: its own wake-up reaches the
/// task ~0.1 ms after the kernel timer (50 µs timer slack, then the runtime thread's wake-up),
/// and the rest is yielded through.
const LEAD: Duration = Duration::from_micros(150);

/// tokio's timer is asked for this long before the intended start when no clock thread runs.
const EARLY: Duration = Duration::from_millis(1);

/// Wakes the arrival task at requested instants.
#[derive(Debug)]
pub struct ArrivalClock {
    /// `None` if the thread could not be started: then tokio's timer plus yielding is used.
    requests: Option<mpsc::Sender<(Instant, oneshot::Sender<()>)>>,
}

impl ArrivalClock {
    /// Start the clock thread. It ends when the clock is dropped (after its current sleep).
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        let spawned = std::thread::Builder::new()
            .name("cicada-arrivals".to_string())
            .spawn(move || {
                for (at, done) in rx {
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                    let _ = done.send(());
                }
            });
        Self {
            requests: spawned.ok().map(|_| tx),
        }
    }

    /// Wait until `at`; false if `stop` fired first.
    pub async fn wait_until(&self, at: Instant, stop: &CancellationToken) -> bool {
        let now = Instant::now();
        if at > now + LEAD + SPIN_BELOW
            && let Some(requests) = &self.requests
        {
            let (done, woken) = oneshot::channel();
            if requests.send((at - LEAD, done)).is_ok() {
                tokio::select! {
                    _ = woken => {}
                    _ = stop.cancelled() => return false,
                }
            }
        }
        wait_coarse(at, stop).await
    }
}

/// Without the clock thread (or for the last few µs): tokio's timer until `EARLY` before `at`,
/// then yield to the runtime until `at` (other tasks keep running in between).
async fn wait_coarse(at: Instant, stop: &CancellationToken) -> bool {
    if let Some(coarse) = at.checked_sub(EARLY)
        && coarse > Instant::now()
    {
        tokio::select! {
            _ = tokio::time::sleep_until(coarse.into()) => {}
            _ = stop.cancelled() => return false,
        }
    }
    while Instant::now() < at {
        if stop.is_cancelled() {
            return false;
        }
        tokio::task::yield_now().await;
    }
    !stop.is_cancelled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_at_the_instant_asked_not_before() {
        let clock = ArrivalClock::start();
        let stop = CancellationToken::new();
        for ms in [2u64, 5, 1] {
            let at = Instant::now() + Duration::from_millis(ms);
            assert!(clock.wait_until(at, &stop).await);
            let late = Instant::now().saturating_duration_since(at);
            assert!(Instant::now() >= at);
            // Generous: a busy test machine may deschedule the clock thread.
            assert!(late < Duration::from_millis(50), "{late:?} late");
        }
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait() {
        let clock = ArrivalClock::start();
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stopper.cancel();
        });
        let started = Instant::now();
        let at = started + Duration::from_secs(30);
        assert!(!clock.wait_until(at, &stop).await);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
