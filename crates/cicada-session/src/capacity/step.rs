//! One capacity step on a running engine: move to the step's load, hold it, measure it.
//!
//! Users (closed model): a step that adds users adds them at the spawn rate (`--spawn-rate`,
//! Locust's semantics), by raising `RunControl::set_users` one user at a time; a step that
//! removes users stops them at once (last in, first out). The warm-up starts when the step's
//! user count is reached, so the ramp is never measured: a step is `ramp + --step-time` long
//! and its first `ramp + --warmup` are discarded.
//!
//! Arrival rate (open model): the rate is set at once (`RunControl::set_rate`); the warm-up
//! covers the jump. An arrival dropped because `--max-concurrency` iterations were already in
//! flight counts as a failed request: the target did not serve it.
//!
//! Either way the measured window is read from the run's per-second timeline: throughput,
//! error rate, and P95 as the request-weighted mean of the per-second P95s.

use std::time::{Duration, Instant};

use cicada::runner::RunControl;
use cicada::scenario::Program;
use cicada_analysis::capacity::StepMeasurement;
use cicada_analysis::resources::ProcessSampler;
use cicada_report::model::IntervalSample;

/// The generator counts as saturated at this share of the CPU it may use.
const GENERATOR_CPU_LIMIT_PCT: f64 = 90.0;

/// How often the ramp raises the user count (the engine's controller ticks every 5 ms).
const RAMP_TICK: Duration = Duration::from_millis(50);

/// What a step varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lever {
    /// Closed model: users, added at this many per second.
    Users { spawn_rate: f64 },
    /// Open model: iterations started per second.
    Rate,
}

/// Holds steps one after another on one run.
pub struct Stepper<'a> {
    control: &'a RunControl,
    lever: Lever,
    step: Duration,
    warmup: Duration,
    sampler: ProcessSampler,
    /// The `on_start` requests, by (user type, method, name): their failures are counted apart.
    on_start_rows: Vec<(String, String, String)>,
    /// The load the run holds now (users: 0 before the first step).
    current: f64,
}

/// A step's measurement and what the search does not judge but the user should see.
pub struct StepOutcome {
    pub measurement: StepMeasurement,
    /// Seconds spent reaching the step's load (users ramping at the spawn rate).
    pub ramp_s: f64,
    /// `on_start` requests (logins) that failed from the step's start to its end.
    pub on_start_failures: u64,
    /// Open model: arrivals dropped in the measured window (counted as failures).
    pub dropped: u64,
    /// Open model: the worst per-second p99 schedule lag in the measured window, ms. Over a
    /// few ms the generator started iterations late, and (timed from their intended start)
    /// that lag is in the latencies.
    pub worst_lag_p99_ms: Option<f64>,
    /// cicada's CPU use over the measured window, % of what it may use.
    pub generator_cpu_pct: f64,
}

impl<'a> Stepper<'a> {
    pub fn new(
        control: &'a RunControl,
        program: &Program,
        lever: Lever,
        step: Duration,
        warmup: Duration,
    ) -> Result<Self, String> {
        let sampler = ProcessSampler::current().map_err(|e| e.to_string())?;
        let on_start_rows = program
            .user_types
            .iter()
            .flat_map(|u| u.on_start.iter().map(|r| &program.rows[r.row]))
            .map(|k| (k.user_type.clone(), k.method.clone(), k.name.clone()))
            .collect();
        Ok(Self {
            control,
            lever,
            step,
            warmup,
            sampler,
            on_start_rows,
            current: 0.0,
        })
    }

    pub fn lever(&self) -> Lever {
        self.lever
    }

    /// Move to `load`, hold it for the step, and measure the part after the warm-up.
    pub async fn run(&mut self, load: f64) -> StepOutcome {
        let began = self.control.elapsed();
        let ramp_s = match self.lever {
            Lever::Users { spawn_rate } => {
                ramp_users(self.control, self.current as u64, load as u64, spawn_rate).await
            }
            Lever::Rate => {
                self.control.set_rate(load);
                0.0
            }
        };
        self.current = load;
        let start = self.control.elapsed();
        tokio::time::sleep(self.warmup).await;
        let _ = self.sampler.sample(0.0);
        tokio::time::sleep(self.step - self.warmup).await;
        let cpu = self
            .sampler
            .sample(0.0)
            .map_or(0.0, |s| s.cpu_available_pct);
        // Let the runner close the last whole second of the step before reading it.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let report = self.control.snapshot();
        let from = (start + self.warmup).as_secs_f64().ceil() as u64 + 1;
        let to = (start + self.step).as_secs_f64().floor() as u64;
        let window: Vec<&IntervalSample> = report
            .timeline
            .iter()
            .filter(|s| s.elapsed_s >= from && s.elapsed_s <= to)
            .collect();
        let whole_step = began.as_secs_f64().ceil() as u64 + 1;
        let on_start_failures = report
            .timeline
            .iter()
            .filter(|s| s.elapsed_s >= whole_step && s.elapsed_s <= to)
            .flat_map(|s| &s.by_request)
            .filter(|r| {
                self.on_start_rows.iter().any(|(user_type, method, name)| {
                    r.method == *method
                        && r.name == *name
                        && r.user_type.as_ref().is_none_or(|t| t == user_type)
                })
            })
            .map(|r| r.failures)
            .sum();
        let mut measurement = measure(load, &window, cpu < GENERATOR_CPU_LIMIT_PCT);
        measurement.warmup_discarded_s = ramp_s + self.warmup.as_secs_f64();
        StepOutcome {
            dropped: window.iter().filter_map(|s| s.dropped_iterations).sum(),
            worst_lag_p99_ms: window
                .iter()
                .filter_map(|s| s.schedule_lag_p99_ms)
                .reduce(f64::max),
            measurement,
            ramp_s,
            on_start_failures,
            generator_cpu_pct: cpu,
        }
    }
}

/// Raise the users from `from` to `to` at `per_second` (or drop them at once when `to` is
/// lower); returns the seconds it took until the engine had them all running.
async fn ramp_users(control: &RunControl, from: u64, to: u64, per_second: f64) -> f64 {
    let began = Instant::now();
    if to > from {
        loop {
            let added = (per_second * began.elapsed().as_secs_f64()).floor() as u64;
            let now = from.saturating_add(added).min(to);
            control.set_users(now);
            if now >= to {
                break;
            }
            let until_next = (added + 1) as f64 / per_second - began.elapsed().as_secs_f64();
            tokio::time::sleep(Duration::from_secs_f64(until_next.max(0.001)).min(RAMP_TICK)).await;
        }
        // The controller spawns on its next tick; wait for it (bounded).
        let deadline = Instant::now() + Duration::from_secs(2);
        while control.users() < to && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    } else {
        control.set_users(to);
    }
    began.elapsed().as_secs_f64()
}

/// One step's numbers from its measured seconds. Open-model arrivals dropped for want of a
/// free slot count as failed requests.
pub fn measure(load: f64, window: &[&IntervalSample], generator_healthy: bool) -> StepMeasurement {
    let seconds = window.len() as f64;
    let requests: u64 = window.iter().map(|s| s.requests).sum();
    let dropped: u64 = window.iter().filter_map(|s| s.dropped_iterations).sum();
    let failures: u64 = window.iter().map(|s| s.failures).sum::<u64>() + dropped;
    let p95 = if requests == 0 {
        0.0
    } else {
        window
            .iter()
            .map(|s| s.percentiles.p95 * s.requests as f64)
            .sum::<f64>()
            / requests as f64
    };
    StepMeasurement {
        load,
        warmup_discarded_s: 0.0,
        measured_s: seconds,
        throughput: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p95_ms: p95,
        error_rate: if requests + dropped == 0 {
            // Nothing completed: count it as failing rather than as a perfect step.
            1.0
        } else {
            failures as f64 / (requests + dropped) as f64
        },
        generator_healthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(requests: u64, failures: u64, p95: f64, dropped: Option<u64>) -> IntervalSample {
        let mut s: IntervalSample = serde_json::from_value(serde_json::json!({
            "elapsed_s": 1, "unix_time": 0, "users": 1, "requests": requests,
            "failures": failures, "rps": 0.0, "failures_per_s": 0.0,
            "percentiles": {"p50": 0.0, "p66": 0.0, "p75": 0.0, "p80": 0.0, "p90": 0.0,
                "p95": p95, "p98": 0.0, "p99": 0.0, "p99_9": 0.0, "p99_99": 0.0, "p100": 0.0},
            "mean_ms": 0.0, "total_requests": 0, "total_failures": 0
        }))
        .expect("a valid interval sample");
        s.dropped_iterations = dropped;
        s
    }

    #[test]
    fn p95_is_weighted_by_requests_and_drops_count_as_failures() {
        let a = second(100, 1, 10.0, Some(0));
        let b = second(300, 2, 30.0, Some(100));
        let m = measure(50.0, &[&a, &b], true);
        assert_eq!(m.measured_s, 2.0);
        assert_eq!(m.throughput, 200.0);
        assert!((m.p95_ms - 25.0).abs() < 1e-9, "{}", m.p95_ms);
        // 3 failed + 100 dropped of 400 served + 100 dropped.
        assert!((m.error_rate - 103.0 / 500.0).abs() < 1e-12);
    }

    #[test]
    fn an_empty_window_fails() {
        let m = measure(5.0, &[], true);
        assert_eq!(m.error_rate, 1.0);
        assert_eq!(m.throughput, 0.0);
    }
}
