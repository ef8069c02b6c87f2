//! The worker autoscaler as a pure control loop: given the time, the queue depth and the busy
//! workers, it decides how many workers there should be. Time is passed in, so tests drive it
//! with a fake clock.
//!
//! The rule follows KEDA/HPA for queue consumers: `recommended = ceil((pending + busy) /
//! target_per_worker)` clamped to `[min, max]`. Scale-up happens at once, at most once per
//! `up_cooldown`. Scale-down takes the highest recommendation seen over the last
//! `down_cooldown` (HPA's stabilisation window), so a brief lull does not shed workers that
//! the next burst needs.

use std::collections::VecDeque;
use std::time::Duration;

/// Autoscaler settings (validated by the config layer: `1 <= min <= max`, target > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoscaleConfig {
    /// Fewest workers.
    pub min: usize,
    /// Most workers.
    pub max: usize,
    /// Queue items (pending + running) one worker should carry.
    pub target_per_worker: f64,
    /// Least time between two scale-ups.
    pub up_cooldown: Duration,
    /// Stabilisation window for scale-down.
    pub down_cooldown: Duration,
    /// How often the loop runs.
    pub interval: Duration,
}

impl Default for AutoscaleConfig {
    fn default() -> Self {
        AutoscaleConfig {
            min: 2,
            max: 64,
            target_per_worker: 2.0,
            up_cooldown: Duration::from_secs(3),
            down_cooldown: Duration::from_secs(30),
            interval: Duration::from_secs(1),
        }
    }
}

/// What one step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep the current count.
    Hold,
    /// Add workers.
    ScaleUp,
    /// Retire workers.
    ScaleDown,
}

/// One step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Workers before.
    pub from: usize,
    /// Workers after.
    pub to: usize,
    /// The raw recommendation for this step's load.
    pub recommended: usize,
}

/// The control loop's state.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    cfg: AutoscaleConfig,
    current: usize,
    last_up: Option<Duration>,
    /// Time of the first step: the window covers a whole period only once this is
    /// `down_cooldown` old.
    first_step: Option<Duration>,
    /// (time, recommendation) within the scale-down window.
    window: VecDeque<(Duration, usize)>,
}

impl Autoscaler {
    /// Starts at `min` workers.
    pub fn new(cfg: AutoscaleConfig) -> Self {
        Autoscaler {
            current: cfg.min,
            cfg,
            last_up: None,
            first_step: None,
            window: VecDeque::new(),
        }
    }

    /// Workers the loop currently wants.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The clamped recommendation for this load.
    pub fn recommend(&self, pending: u64, busy: u64) -> usize {
        #[allow(clippy::cast_precision_loss)]
        let load = (pending + busy) as f64;
        let raw = (load / self.cfg.target_per_worker).ceil();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let raw = if raw >= self.cfg.max as f64 {
            self.cfg.max
        } else {
            raw as usize
        };
        raw.clamp(self.cfg.min, self.cfg.max)
    }

    /// One control step at time `now` (monotonic, since any fixed origin).
    pub fn step(&mut self, now: Duration, pending: u64, busy: u64) -> Decision {
        let recommended = self.recommend(pending, busy);
        let first_step = *self.first_step.get_or_insert(now);
        self.window.push_back((now, recommended));
        while let Some(&(t, _)) = self.window.front() {
            if now.saturating_sub(t) > self.cfg.down_cooldown {
                self.window.pop_front();
            } else {
                break;
            }
        }
        let from = self.current;
        let hold = Decision {
            action: Action::Hold,
            from,
            to: from,
            recommended,
        };
        if recommended > from {
            let cooled = self
                .last_up
                .is_none_or(|t| now.saturating_sub(t) >= self.cfg.up_cooldown);
            if !cooled {
                return hold;
            }
            self.current = recommended;
            self.last_up = Some(now);
            return Decision {
                action: Action::ScaleUp,
                to: recommended,
                ..hold
            };
        }
        // The window must span the whole stabilisation period before it may shrink. This is
        // judged from the first step, not from the oldest entry kept: entries older than the
        // period are dropped above, so with a real clock (ticks a little over `interval` apart)
        // the oldest one left is almost never exactly a period old, and the pool never shrank.
        let window_full = now.saturating_sub(first_step) >= self.cfg.down_cooldown;
        let since_up_ok = self
            .last_up
            .is_none_or(|t| now.saturating_sub(t) >= self.cfg.down_cooldown);
        let stable = self
            .window
            .iter()
            .map(|&(_, r)| r)
            .max()
            .unwrap_or(recommended);
        if stable < from && window_full && since_up_ok {
            self.current = stable;
            return Decision {
                action: Action::ScaleDown,
                to: stable,
                ..hold
            };
        }
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AutoscaleConfig {
        AutoscaleConfig {
            min: 1,
            max: 10,
            target_per_worker: 2.0,
            up_cooldown: Duration::from_secs(5),
            down_cooldown: Duration::from_secs(30),
            interval: Duration::from_secs(1),
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn recommendation_is_ceil_of_load_over_target_clamped() {
        let a = Autoscaler::new(cfg());
        assert_eq!(a.recommend(0, 0), 1);
        assert_eq!(a.recommend(3, 0), 2);
        assert_eq!(a.recommend(3, 2), 3);
        assert_eq!(a.recommend(1000, 0), 10);
        assert_eq!(a.recommend(u64::MAX / 2, 0), 10);
    }

    #[test]
    fn scales_up_at_once_then_waits_for_cooldown() {
        let mut a = Autoscaler::new(cfg());
        let d = a.step(s(0), 8, 0);
        assert_eq!((d.action, d.from, d.to), (Action::ScaleUp, 1, 4));
        // More load 2 s later: inside the up-cooldown, hold.
        let d = a.step(s(2), 16, 4);
        assert_eq!((d.action, d.to, d.recommended), (Action::Hold, 4, 10));
        // After the cooldown the step goes straight to the recommendation.
        let d = a.step(s(5), 16, 4);
        assert_eq!((d.action, d.from, d.to), (Action::ScaleUp, 4, 10));
    }

    #[test]
    fn scale_down_waits_for_a_full_quiet_window() {
        let mut a = Autoscaler::new(cfg());
        a.step(s(0), 20, 0);
        assert_eq!(a.current(), 10);
        // Load vanishes; for 30 s the window still holds the peak.
        for t in 1..30 {
            let d = a.step(s(t), 0, 0);
            assert_eq!(d.action, Action::Hold, "t={t}");
        }
        // The peak leaves the window after 30 s; recommendations since then are all 1.
        let d = a.step(s(31), 0, 0);
        assert_eq!((d.action, d.from, d.to), (Action::ScaleDown, 10, 1));
    }

    /// Regression: with ticks a little over a second apart (as a real `interval` delivers), the
    /// pool shrank never, because the oldest entry kept was never exactly one window old.
    #[test]
    fn scale_down_happens_with_a_jittery_clock() {
        let mut a = Autoscaler::new(AutoscaleConfig {
            down_cooldown: Duration::from_secs(5),
            ..cfg()
        });
        let tick = Duration::from_micros(1_000_300);
        a.step(tick, 20, 0);
        assert_eq!(a.current(), 10);
        let mut scaled_down_at = None;
        for i in 2..=20u32 {
            let d = a.step(tick * i, 0, 0);
            if d.action == Action::ScaleDown {
                scaled_down_at = Some(i);
                assert_eq!(d.to, 1);
                break;
            }
        }
        // The peak (tick 1) is 5.0015 s old at tick 6: it has left the 5 s window.
        assert_eq!(scaled_down_at, Some(6));
    }

    #[test]
    fn a_burst_inside_the_window_keeps_workers() {
        let mut a = Autoscaler::new(cfg());
        a.step(s(0), 12, 0); // -> 6
        for t in 1..=40 {
            // A burst at t=20 recommends 6 again: the window max stays 6 until t=51.
            let pending = if t == 20 { 12 } else { 0 };
            let d = a.step(s(t), pending, 0);
            assert_eq!(d.action, Action::Hold, "t={t}");
        }
        let d = a.step(s(51), 0, 0);
        assert_eq!((d.action, d.to), (Action::ScaleDown, 1));
    }

    #[test]
    fn scale_down_goes_to_the_window_maximum() {
        let mut a = Autoscaler::new(cfg());
        a.step(s(0), 20, 0); // -> 10
        for t in 1..=31 {
            a.step(s(t), 0, 6); // recommends 3
        }
        assert_eq!(a.current(), 3);
    }

    #[test]
    fn never_leaves_bounds() {
        let mut a = Autoscaler::new(cfg());
        let mut t = 0;
        for load in [0u64, 1000, 0, 50, 3, 0, 999, 0] {
            for _ in 0..40 {
                t += 1;
                let d = a.step(s(t), load, 0);
                assert!((1..=10).contains(&d.to));
            }
        }
    }
}
