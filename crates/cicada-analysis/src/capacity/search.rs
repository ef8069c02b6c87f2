//! The capacity search as a state machine, independent of the runner.
//!
//! The runner asks [`CapacitySearch::next`] for a load, holds it (discarding its own warm-up),
//! measures it and hands the [`StepMeasurement`] to [`CapacitySearch::record`], until the search
//! says [`Next::Done`]. The search doubles the load while every SLO holds; after the first
//! violation it bisects between the highest passing and the lowest failing load until they are
//! within the tolerance (5 % by default). A step on which the generator could not keep up stops
//! the search: its numbers say nothing certain about the target.

use cicada_report::analysis_model::{CapacityResult, CapacityStep, LoadUnit};

use super::slo::Slo;
use crate::usl::fit_usl;

/// Search settings, validated by [`CapacitySearch::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityConfig {
    pub load_unit: LoadUnit,
    /// First load to try (> 0).
    pub start: f64,
    /// Never go above this load.
    pub max_load: f64,
    /// Never go below this load (users: 1).
    pub min_load: f64,
    /// Stop bisecting when `(fail − pass) / fail ≤ tolerance` (0.05: within 5 %).
    pub tolerance: f64,
    /// Round loads to whole numbers (users).
    pub whole_numbers: bool,
    /// At most this many steps.
    pub max_steps: usize,
    pub slos: Vec<Slo>,
}

impl CapacityConfig {
    /// Defaults for a search over users: start at `start`, up to `max_load`, within 5 %.
    pub fn users(start: f64, max_load: f64, slos: Vec<Slo>) -> Self {
        Self {
            load_unit: LoadUnit::Users,
            start,
            max_load,
            min_load: 1.0,
            tolerance: 0.05,
            whole_numbers: true,
            max_steps: 30,
            slos,
        }
    }

    /// Defaults for a search over arrival rates (iterations/s).
    pub fn arrival_rate(start: f64, max_load: f64, slos: Vec<Slo>) -> Self {
        Self {
            load_unit: LoadUnit::ArrivalRate,
            min_load: start.min(0.1),
            whole_numbers: false,
            ..Self::users(start, max_load, slos)
        }
    }
}

/// A configuration or protocol error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CapacityError {
    #[error("capacity search: {0}")]
    InvalidConfig(String),
    #[error("capacity search asked for load {expected} but was given a measurement at {got}")]
    UnexpectedLoad { expected: f64, got: f64 },
    #[error("capacity search is finished; no more steps are needed")]
    Finished,
    #[error("capacity search: measurement at load {load} is invalid: {reason}")]
    InvalidMeasurement { load: f64, reason: String },
}

/// What the runner measured in one step (after discarding its warm-up).
#[derive(Debug, Clone, PartialEq)]
pub struct StepMeasurement {
    pub load: f64,
    pub warmup_discarded_s: f64,
    pub measured_s: f64,
    pub throughput: f64,
    pub p95_ms: f64,
    pub error_rate: f64,
    pub generator_healthy: bool,
}

/// The search's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Hold this load next.
    Run(f64),
    /// The search is over.
    Done(Box<CapacityResult>),
}

/// The capacity search state.
#[derive(Debug, Clone)]
pub struct CapacitySearch {
    config: CapacityConfig,
    steps: Vec<CapacityStep>,
    /// Highest passing and lowest failing load so far.
    pass: Option<f64>,
    fail: Option<f64>,
    next: Option<f64>,
    stop_reason: Option<String>,
}

impl CapacitySearch {
    pub fn new(config: CapacityConfig) -> Result<Self, CapacityError> {
        let bad = |m: &str| Err(CapacityError::InvalidConfig(m.to_owned()));
        let c = &config;
        if !(c.start.is_finite() && c.start > 0.0) {
            return bad("the start load must be a positive number");
        }
        if !(c.min_load.is_finite() && c.min_load > 0.0 && c.min_load <= c.start) {
            return bad("the minimum load must be positive and at most the start load");
        }
        if !(c.max_load.is_finite() && c.max_load >= c.start) {
            return bad("the maximum load must be at least the start load");
        }
        if !(c.tolerance > 0.0 && c.tolerance < 1.0) {
            return bad("the tolerance must be between 0 and 1 (0.05 = within 5 %)");
        }
        if c.max_steps == 0 {
            return bad("at least one step is needed");
        }
        if c.slos.is_empty() {
            return bad("at least one SLO is needed (e.g. --slo 'p95<200ms')");
        }
        let start = round(&config, config.start);
        Ok(Self {
            config,
            steps: Vec::new(),
            pass: None,
            fail: None,
            next: Some(start),
            stop_reason: None,
        })
    }

    /// The load to run next, or the result.
    pub fn next(&self) -> Next {
        match self.next {
            Some(load) => Next::Run(load),
            None => Next::Done(Box::new(self.result())),
        }
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> &[CapacityStep] {
        &self.steps
    }

    /// Record the measurement of the load [`next`](Self::next) asked for; returns what to do next.
    pub fn record(&mut self, m: StepMeasurement) -> Result<Next, CapacityError> {
        let expected = self.next.ok_or(CapacityError::Finished)?;
        if (m.load - expected).abs() > 1e-9 * expected.max(1.0) {
            return Err(CapacityError::UnexpectedLoad {
                expected,
                got: m.load,
            });
        }
        for (name, v) in [
            ("throughput", m.throughput),
            ("warm-up", m.warmup_discarded_s),
            ("measured time", m.measured_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CapacityError::InvalidMeasurement {
                    load: m.load,
                    reason: format!("{name} {v} is not a finite non-negative number"),
                });
            }
        }
        if !(0.0..=1.0).contains(&m.error_rate) {
            return Err(CapacityError::InvalidMeasurement {
                load: m.load,
                reason: format!("error rate {} is not in 0..=1", m.error_rate),
            });
        }
        let violations: Vec<String> = self
            .config
            .slos
            .iter()
            .filter_map(|s| s.violation(m.p95_ms, m.error_rate, m.throughput))
            .collect();
        let passed = violations.is_empty();
        self.steps.push(CapacityStep {
            load: m.load,
            warmup_discarded_s: m.warmup_discarded_s,
            measured_s: m.measured_s,
            throughput: m.throughput,
            p95_ms: m.p95_ms,
            error_rate: m.error_rate,
            generator_healthy: m.generator_healthy,
            passed: passed && m.generator_healthy,
            violations,
        });
        self.next = self.decide(m.load, passed, m.generator_healthy);
        Ok(self.next())
    }

    fn decide(&mut self, load: f64, passed: bool, healthy: bool) -> Option<f64> {
        let unit = unit_name(self.config.load_unit);
        if !healthy {
            self.stop_reason = Some(format!(
                "the load generator could not keep up at {} {unit}; results from there on would \
                 understate the target, so the search stopped (give the generator more CPU or \
                 run distributed)",
                show(load)
            ));
            return None;
        }
        if passed {
            self.pass = Some(self.pass.map_or(load, |p| p.max(load)));
        } else {
            self.fail = Some(self.fail.map_or(load, |f| f.min(load)));
        }
        let next = self.next_load(unit)?;
        if self.steps.len() >= self.config.max_steps {
            self.stop_reason = Some(format!(
                "the step budget ({}) ran out before the search converged",
                self.config.max_steps
            ));
            return None;
        }
        Some(next)
    }

    /// The load the search would try next, or `None` (with the stop reason set) when it is
    /// finished: converged, or at the maximum or minimum load.
    fn next_load(&mut self, unit: &str) -> Option<f64> {
        let cfg = &self.config;
        match (self.pass, self.fail) {
            // Still doubling.
            (Some(pass), None) => {
                if pass >= cfg.max_load {
                    self.stop_reason = Some(format!(
                        "every SLO held up to the maximum load of {} {unit}",
                        show(cfg.max_load)
                    ));
                    return None;
                }
                Some(round(cfg, (pass * 2.0).min(cfg.max_load)))
            }
            // Nothing passed yet: halve down towards the minimum.
            (None, Some(fail)) => {
                if fail <= cfg.min_load {
                    self.stop_reason = Some(format!(
                        "the SLOs are violated even at the minimum load of {} {unit}",
                        show(cfg.min_load)
                    ));
                    return None;
                }
                Some(round(cfg, (fail / 2.0).max(cfg.min_load)).max(cfg.min_load))
            }
            (Some(pass), Some(fail)) => {
                let converged = (fail - pass) / fail <= cfg.tolerance;
                let mid = round(cfg, (pass + fail) / 2.0);
                if converged || mid <= pass || mid >= fail {
                    self.stop_reason = Some(format!(
                        "converged: {} {unit} meets the SLOs, {} {unit} does not ({:.1} % apart)",
                        show(pass),
                        show(fail),
                        (fail - pass) / fail * 100.0
                    ));
                    return None;
                }
                Some(mid)
            }
            // Cannot happen: this step was just recorded as a pass or a fail.
            (None, None) => None,
        }
    }

    /// The result so far (final once [`next`](Self::next) is [`Next::Done`]).
    pub fn result(&self) -> CapacityResult {
        let unit = unit_name(self.config.load_unit);
        let slos = self
            .config
            .slos
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and ");
        let headline = match self.pass {
            Some(p) => format!("max {unit} at {slos}: {}", show(p)),
            None if self.steps.is_empty() => format!("max {unit} at {slos}: not measured yet"),
            None => format!("max {unit} at {slos}: none (every step violated an SLO)"),
        };
        let (usl, usl_error) = self.fit();
        CapacityResult {
            load_unit: self.config.load_unit,
            slos: self.config.slos.iter().map(|s| s.text.clone()).collect(),
            steps: self.steps.clone(),
            max_passing_load: self.pass,
            min_failing_load: self.fail,
            stop_reason: self
                .stop_reason
                .clone()
                .unwrap_or_else(|| "the search is still running".to_owned()),
            headline,
            usl,
            usl_error,
        }
    }

    /// The USL fit over the trusted steps (concurrency = users).
    fn fit(
        &self,
    ) -> (
        Option<cicada_report::analysis_model::UslFit>,
        Option<String>,
    ) {
        if self.config.load_unit != LoadUnit::Users {
            return (
                None,
                Some(
                    "the USL is fitted to throughput vs concurrency: run the search over users"
                        .into(),
                ),
            );
        }
        let points: Vec<(f64, f64)> = self
            .steps
            .iter()
            .filter(|s| s.generator_healthy)
            .map(|s| (s.load, s.throughput))
            .collect();
        match fit_usl(&points) {
            Ok(fit) => (Some(fit), None),
            Err(e) => (None, Some(e.to_string())),
        }
    }
}

fn round(cfg: &CapacityConfig, load: f64) -> f64 {
    if cfg.whole_numbers {
        load.round().max(1.0)
    } else {
        // Three significant decimals are plenty for a rate.
        (load * 1000.0).round() / 1000.0
    }
}

fn unit_name(unit: LoadUnit) -> &'static str {
    match unit {
        LoadUnit::Users => "users",
        LoadUnit::ArrivalRate => "iterations/s",
    }
}

fn show(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slos(list: &[&str]) -> Vec<Slo> {
        list.iter().map(|s| Slo::parse(s).unwrap()).collect()
    }

    /// A synthetic M/M/1-like system: p95 grows as 1/(1 − ρ) with ρ = load / capacity; errors
    /// start when ρ passes `error_knee`; throughput follows the USL.
    struct System {
        capacity: f64,
        base_ms: f64,
        error_knee: f64,
    }

    impl System {
        fn measure(&self, load: f64) -> StepMeasurement {
            let rho = load / self.capacity;
            let p95 = if rho < 1.0 {
                self.base_ms / (1.0 - rho)
            } else {
                f64::INFINITY
            };
            let error_rate = if rho > self.error_knee {
                ((rho - self.error_knee) * 2.0).min(1.0)
            } else {
                0.0
            };
            StepMeasurement {
                load,
                warmup_discarded_s: 5.0,
                measured_s: 30.0,
                throughput: crate::usl::usl_throughput(load, 0.03, 0.0001, 20.0),
                p95_ms: p95,
                error_rate,
                generator_healthy: true,
            }
        }
    }

    fn run(search: &mut CapacitySearch, system: &System) -> CapacityResult {
        let mut next = search.next();
        for _ in 0..100 {
            match next {
                Next::Run(load) => next = search.record(system.measure(load)).unwrap(),
                Next::Done(result) => return *result,
            }
        }
        panic!("search did not finish");
    }

    #[test]
    fn finds_the_latency_limit_within_five_percent() {
        // p95 = 20 / (1 − L/1000) < 200 ms  ⇔  L < 900.
        let system = System {
            capacity: 1000.0,
            base_ms: 20.0,
            error_knee: 2.0,
        };
        let mut search =
            CapacitySearch::new(CapacityConfig::users(10.0, 100_000.0, slos(&["p95<200ms"])))
                .unwrap();
        let r = run(&mut search, &system);
        let (pass, fail) = (r.max_passing_load.unwrap(), r.min_failing_load.unwrap());
        assert!(pass < 900.0 && fail >= 900.0, "{pass} {fail}");
        assert!((fail - pass) / fail <= 0.05, "{pass} {fail}");
        // Doubling: 10, 20, ..., 640, 1280; then bisection.
        let loads: Vec<f64> = r.steps.iter().map(|s| s.load).collect();
        assert_eq!(
            &loads[..8],
            &[10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0]
        );
        assert!(r.steps.iter().all(|s| s.load.fract() == 0.0));
        assert!(r.steps.iter().all(|s| s.passed == (s.load < 900.0)));
        assert!(r.steps.iter().all(|s| s.warmup_discarded_s == 5.0));
        assert_eq!(r.headline, format!("max users at P95 < 200 ms: {pass}"));
        assert!(r.stop_reason.starts_with("converged"), "{}", r.stop_reason);
        let failing = r.steps.iter().find(|s| !s.passed).unwrap();
        assert!(failing.violations[0].starts_with("p95<200ms: measured"));
        // Enough points for the USL: the known parameters come back.
        let usl = r.usl.expect("usl fit");
        assert!((usl.sigma - 0.03).abs() < 1e-4, "{usl:?}");
        assert!(r.usl_error.is_none());
    }

    #[test]
    fn converging_on_the_last_budgeted_step_is_converged_not_out_of_budget() {
        let system = System {
            capacity: 1000.0,
            base_ms: 20.0,
            error_knee: 2.0,
        };
        let cfg = CapacityConfig::users(10.0, 100_000.0, slos(&["p95<200ms"]));
        let steps = run(&mut CapacitySearch::new(cfg.clone()).unwrap(), &system)
            .steps
            .len();
        let exact = CapacityConfig {
            max_steps: steps,
            ..cfg.clone()
        };
        let r = run(&mut CapacitySearch::new(exact).unwrap(), &system);
        assert_eq!(r.steps.len(), steps);
        assert!(r.stop_reason.starts_with("converged"), "{}", r.stop_reason);
        let short = CapacityConfig {
            max_steps: steps - 1,
            ..cfg
        };
        let r = run(&mut CapacitySearch::new(short).unwrap(), &system);
        assert!(r.stop_reason.contains("step budget"), "{}", r.stop_reason);
    }

    #[test]
    fn the_tighter_slo_decides() {
        // Errors begin at ρ = 0.5 (L = 500): error_rate < 1 % ⇔ L < 505.
        let system = System {
            capacity: 1000.0,
            base_ms: 1.0,
            error_knee: 0.5,
        };
        let mut search = CapacitySearch::new(CapacityConfig::users(
            50.0,
            10_000.0,
            slos(&["p95<200ms", "error_rate<1%"]),
        ))
        .unwrap();
        let r = run(&mut search, &system);
        let (pass, fail) = (r.max_passing_load.unwrap(), r.min_failing_load.unwrap());
        assert!(pass < 505.0 && fail >= 505.0, "{pass} {fail}");
        assert!((fail - pass) / fail <= 0.05);
        assert_eq!(
            r.headline,
            format!("max users at P95 < 200 ms and error rate < 1 %: {pass}")
        );
        assert_eq!(r.slos, ["p95<200ms", "error_rate<1%"]);
    }

    #[test]
    fn arrival_rates_are_fractional_and_a_tighter_tolerance_is_honoured() {
        let system = System {
            capacity: 37.3,
            base_ms: 10.0,
            error_knee: 2.0,
        };
        // p95 < 100 ms ⇔ ρ < 0.9 ⇔ rate < 33.57.
        let mut cfg = CapacityConfig::arrival_rate(1.0, 1000.0, slos(&["p95<100ms"]));
        cfg.tolerance = 0.01;
        let mut search = CapacitySearch::new(cfg).unwrap();
        let r = run(&mut search, &system);
        let (pass, fail) = (r.max_passing_load.unwrap(), r.min_failing_load.unwrap());
        assert!(pass < 33.57 && fail >= 33.57, "{pass} {fail}");
        assert!((fail - pass) / fail <= 0.01);
        assert_eq!(r.load_unit, LoadUnit::ArrivalRate);
        assert!(r.usl.is_none() && r.usl_error.is_some());
        assert!(r.headline.starts_with("max iterations/s at"));
    }

    #[test]
    fn a_system_that_fails_at_the_start_is_searched_downwards() {
        let system = System {
            capacity: 10.0,
            base_ms: 20.0,
            error_knee: 2.0,
        };
        // p95 < 200 ⇔ L < 9.
        let mut search =
            CapacitySearch::new(CapacityConfig::users(64.0, 1000.0, slos(&["p95<200ms"]))).unwrap();
        let r = run(&mut search, &system);
        assert_eq!(r.max_passing_load, Some(8.0));
        assert_eq!(r.min_failing_load, Some(9.0));
        // And one that fails even at one user.
        let hopeless = System {
            capacity: 1.0,
            base_ms: 500.0,
            error_knee: 2.0,
        };
        let mut search =
            CapacitySearch::new(CapacityConfig::users(4.0, 1000.0, slos(&["p95<200ms"]))).unwrap();
        let r = run(&mut search, &hopeless);
        assert_eq!(r.max_passing_load, None);
        assert_eq!(r.min_failing_load, Some(1.0));
        assert!(
            r.stop_reason.contains("even at the minimum"),
            "{}",
            r.stop_reason
        );
        assert!(r.headline.ends_with("none (every step violated an SLO)"));
    }

    #[test]
    fn stops_at_the_ceiling() {
        let system = System {
            capacity: 1e9,
            base_ms: 1.0,
            error_knee: 2.0,
        };
        let mut search =
            CapacitySearch::new(CapacityConfig::users(10.0, 100.0, slos(&["p95<200ms"]))).unwrap();
        let r = run(&mut search, &system);
        let loads: Vec<f64> = r.steps.iter().map(|s| s.load).collect();
        assert_eq!(loads, [10.0, 20.0, 40.0, 80.0, 100.0]);
        assert_eq!(r.max_passing_load, Some(100.0));
        assert_eq!(r.min_failing_load, None);
        assert!(
            r.stop_reason.contains("maximum load of 100"),
            "{}",
            r.stop_reason
        );
        // Five points: too few for the USL, and it says so.
        assert!(r.usl.is_none());
        assert!(r.usl_error.unwrap().contains("at least 6"));
    }

    #[test]
    fn an_unhealthy_generator_stops_the_search() {
        let system = System {
            capacity: 1000.0,
            base_ms: 20.0,
            error_knee: 2.0,
        };
        let mut search =
            CapacitySearch::new(CapacityConfig::users(10.0, 10_000.0, slos(&["p95<200ms"])))
                .unwrap();
        search.record(system.measure(10.0)).unwrap();
        let mut m = system.measure(20.0);
        m.generator_healthy = false;
        let Next::Done(r) = search.record(m).unwrap() else {
            panic!("should stop");
        };
        assert_eq!(r.max_passing_load, Some(10.0));
        assert!(!r.steps[1].passed && !r.steps[1].generator_healthy);
        assert!(
            r.stop_reason.contains("could not keep up at 20 users"),
            "{}",
            r.stop_reason
        );
        assert_eq!(
            search.record(system.measure(40.0)),
            Err(CapacityError::Finished)
        );
    }

    #[test]
    fn protocol_and_config_errors() {
        let ok = || CapacityConfig::users(10.0, 100.0, slos(&["p95<200ms"]));
        let mut search = CapacitySearch::new(ok()).unwrap();
        assert_eq!(search.next(), Next::Run(10.0));
        let system = System {
            capacity: 1000.0,
            base_ms: 1.0,
            error_knee: 2.0,
        };
        assert_eq!(
            search.record(system.measure(11.0)),
            Err(CapacityError::UnexpectedLoad {
                expected: 10.0,
                got: 11.0
            })
        );
        let mut bad = system.measure(10.0);
        bad.error_rate = 1.5;
        assert!(matches!(
            search.record(bad),
            Err(CapacityError::InvalidMeasurement { .. })
        ));
        let mut bad = system.measure(10.0);
        bad.throughput = f64::NAN;
        assert!(matches!(
            search.record(bad),
            Err(CapacityError::InvalidMeasurement { .. })
        ));
        for cfg in [
            CapacityConfig { start: 0.0, ..ok() },
            CapacityConfig {
                max_load: 5.0,
                ..ok()
            },
            CapacityConfig {
                min_load: 50.0,
                ..ok()
            },
            CapacityConfig {
                tolerance: 0.0,
                ..ok()
            },
            CapacityConfig {
                max_steps: 0,
                ..ok()
            },
            CapacityConfig {
                slos: vec![],
                ..ok()
            },
        ] {
            assert!(matches!(
                CapacitySearch::new(cfg),
                Err(CapacityError::InvalidConfig(_))
            ));
        }
        // The step budget.
        let mut cfg = ok();
        cfg.max_steps = 2;
        let mut search = CapacitySearch::new(cfg).unwrap();
        search.record(system.measure(10.0)).unwrap();
        let Next::Done(r) = search.record(system.measure(20.0)).unwrap() else {
            panic!("budget");
        };
        assert!(r.stop_reason.contains("step budget"));
    }
}
