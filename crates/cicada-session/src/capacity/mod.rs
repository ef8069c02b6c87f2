//! The capacity search (`cicada capacity`): find the most users (or the highest arrival rate)
//! that meet the SLOs.
//!
//! One run of the engine carries the whole search: `capacity::CapacitySearch` names a load,
//! [`step::Stepper`] moves the run there (users at the spawn rate, or the arrival rate at once),
//! holds it for the step time after it is reached, discards the first warm-up and measures the
//! rest from the run's per-second timeline. A step on which cicada itself used ≥ 90 % of its
//! CPU is marked unhealthy, which stops the search. At the end the report carries
//! `analysis.capacity` with every step and, for a search over users, the USL fit.

pub mod step;

use std::path::PathBuf;
use std::time::Duration;

use cicada::launch::{LaunchOptions, SetupError, prepare};
use cicada::runner::{RunConfig, RunError, Runner};
use cicada::scenario::{CompileOptions, LoadSpec};
use cicada_analysis::capacity::{CapacityConfig, CapacitySearch, Next, Slo};
use cicada_analysis::findings::FindingsConfig;
use cicada_analysis::monitor::{Monitor, MonitorConfig};
use cicada_analysis::{Collected, attach_analysis};
use cicada_report::RunReport;
use cicada_report::analysis_model::CapacityResult;
use cicada_report::model::Verdict;

use crate::log::Log;
use step::{Lever, Stepper};

/// A p99 schedule lag above this (ms) is worth a note: the generator started iterations late.
const LATE_LAG_MS: f64 = 5.0;
/// Users search defaults.
const DEFAULT_START_USERS: u64 = 10;
const DEFAULT_MAX_USERS: u64 = 1000;
/// Users started per second when neither `--spawn-rate` nor the scenario's `[load]` says.
const DEFAULT_SPAWN_RATE: f64 = 10.0;
/// Arrival-rate search defaults (iterations/s).
const DEFAULT_RATE_START: f64 = 10.0;
const DEFAULT_MAX_RATE: f64 = 1000.0;

/// What to search (the flags of `cicada capacity`), as given; [`Plan::new`] validates it.
#[derive(Debug, Clone)]
pub struct CapacityOptions {
    /// The scenario file: its user types and tasks are used; the load plan comes from the search.
    pub scenario: PathBuf,
    /// Target base URL (overrides `host` in the scenario).
    pub host: Option<String>,
    /// Service-level objectives: `p95<200ms`, `error_rate<1%`, `rps>=500`.
    pub slos: Vec<String>,
    /// Search over users: the first user count to try.
    pub start_users: Option<u64>,
    /// Search over users: never try more users than this.
    pub max_users: Option<u64>,
    /// Search over users: users started per second when a step adds users.
    pub spawn_rate: Option<f64>,
    /// Search over the arrival rate: the first rate to try.
    pub rate_start: Option<f64>,
    /// Search over the arrival rate: never try a higher rate than this.
    pub max_rate: Option<f64>,
    /// Search over the arrival rate: most iterations in flight at once.
    pub max_concurrency: Option<u64>,
    /// How long each step holds its load once reached, warm-up included.
    pub step_time: Duration,
    /// The first part of each step that is not measured.
    pub warmup: Duration,
    /// At most this many steps.
    pub max_steps: usize,
    /// Seed of every random choice.
    pub seed: Option<u64>,
    /// HTTPS: accept any server certificate.
    pub insecure: bool,
}

/// What the search varies, as validated from the flags.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Closed model; `None`: the scenario's spawn rate, else [`DEFAULT_SPAWN_RATE`].
    Users {
        start: u64,
        max: u64,
        spawn_rate: Option<f64>,
    },
    /// Open model.
    Rate {
        start: f64,
        max: f64,
        max_concurrency: Option<u64>,
    },
}

/// The validated search settings.
#[derive(Debug)]
pub struct Plan {
    mode: Mode,
    search: CapacitySearch,
    step: Duration,
    warmup: Duration,
}

impl Plan {
    /// Validate the options (before any traffic).
    pub fn new(args: &CapacityOptions) -> Result<Self, String> {
        let mode = mode(args)?;
        let slos = args
            .slos
            .iter()
            .map(|s| Slo::parse(s).map_err(|e| format!("--slo: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if args.warmup >= args.step_time {
            return Err(format!(
                "--warmup ({:?}) must be shorter than --step-time ({:?})",
                args.warmup, args.step_time
            ));
        }
        if args.step_time - args.warmup < Duration::from_secs(1) {
            return Err("--step-time must leave at least 1 s to measure after --warmup".into());
        }
        let base = match mode {
            Mode::Users { start, max, .. } => CapacityConfig::users(start as f64, max as f64, slos),
            Mode::Rate { start, max, .. } => CapacityConfig::arrival_rate(start, max, slos),
        };
        let config = CapacityConfig {
            max_steps: args.max_steps,
            ..base
        };
        let search = CapacitySearch::new(config).map_err(|e| e.to_string())?;
        Ok(Plan {
            mode,
            search,
            step: args.step_time,
            warmup: args.warmup,
        })
    }
}

fn mode(args: &CapacityOptions) -> Result<Mode, String> {
    let users = args.start_users.is_some() || args.max_users.is_some() || args.spawn_rate.is_some();
    let rate =
        args.rate_start.is_some() || args.max_rate.is_some() || args.max_concurrency.is_some();
    if users && rate {
        return Err(
            "give either --start-users/--max-users/--spawn-rate (a search over users, \
                    closed model) or --rate-start/--max-rate/--max-concurrency (a search over \
                    the arrival rate, open model), not both"
                .into(),
        );
    }
    if rate {
        let start = args.rate_start.unwrap_or(DEFAULT_RATE_START);
        let max = args.max_rate.unwrap_or(DEFAULT_MAX_RATE.max(start));
        if max < start {
            return Err(format!(
                "--max-rate ({max}) must be at least --rate-start ({start})"
            ));
        }
        return Ok(Mode::Rate {
            start,
            max,
            max_concurrency: args.max_concurrency,
        });
    }
    let start = args.start_users.unwrap_or(DEFAULT_START_USERS);
    let max = args.max_users.unwrap_or(DEFAULT_MAX_USERS.max(start));
    if max < start {
        return Err(format!(
            "--max-users ({max}) must be at least --start-users ({start})"
        ));
    }
    Ok(Mode::Users {
        start,
        max,
        spawn_rate: args.spawn_rate,
    })
}

/// The engine's load spec for the whole search: the first step's load, and a run time that
/// bounds every step the search may take (ramps included); the search ends the run itself.
fn load_spec(plan: &Plan, spawn_rate: f64, max_steps: usize) -> LoadSpec {
    let steps = u32::try_from(max_steps).unwrap_or(u32::MAX);
    let hold = plan.step.saturating_mul(steps) + Duration::from_secs(60);
    match plan.mode {
        Mode::Users { start, max, .. } => {
            // No step ramps by more than the maximum user count.
            let ramp = Duration::from_secs_f64((max as f64 / spawn_rate).min(1e6));
            LoadSpec {
                users: Some(start),
                spawn_rate: Some(spawn_rate),
                run_time: Some(hold + ramp.saturating_mul(steps)),
                ..LoadSpec::default()
            }
        }
        Mode::Rate {
            start,
            max_concurrency,
            ..
        } => LoadSpec {
            rate: Some(start),
            max_concurrency,
            run_time: Some(hold),
            ..LoadSpec::default()
        },
    }
}

/// Load the scenario and plan the run; the spawn rate defaults to the scenario's.
fn prepare_run(args: &CapacityOptions, plan: &Plan) -> Result<(RunConfig, Lever), SetupError> {
    let mut options = LaunchOptions {
        scenario_path: args.scenario.clone(),
        host: args.host.clone(),
        load: load_spec(plan, DEFAULT_SPAWN_RATE, args.max_steps),
        compile: CompileOptions::default(),
        seed: args.seed,
        insecure: args.insecure,
        ..LaunchOptions::default()
    };
    let config = prepare(&options)?;
    match plan.mode {
        Mode::Users { spawn_rate, .. } => {
            let rate = spawn_rate
                .or(config.program.load.spawn_rate)
                .unwrap_or(DEFAULT_SPAWN_RATE);
            if rate == DEFAULT_SPAWN_RATE {
                return Ok((config, Lever::Users { spawn_rate: rate }));
            }
            options.load = load_spec(plan, rate, args.max_steps);
            Ok((prepare(&options)?, Lever::Users { spawn_rate: rate }))
        }
        Mode::Rate { .. } => Ok((config, Lever::Rate)),
    }
}

/// Why the search did not run.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// Bad scenario or plan; nothing was sent.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The target did not accept a connection; nothing was sent.
    #[error(transparent)]
    Unreachable(cicada::http::UnreachableError),
    /// The engine could not start, or lost the run (no report).
    #[error(transparent)]
    Engine(RunError),
}

/// A search that ended with a report.
#[derive(Debug)]
pub struct Searched {
    /// The run's report, its analysis carrying the capacity result (and cicada's resources).
    pub report: RunReport,
    /// Every step and the verdict, as in `report.analysis.capacity`.
    pub result: CapacityResult,
}

/// Run the search on one engine run of `workers` threads; stop early if `interrupted`
/// resolves (Ctrl-C), keeping every step measured so far.
pub async fn run(
    args: &CapacityOptions,
    plan: Plan,
    workers: usize,
    log: &dyn Log,
    interrupted: impl Future<Output = ()>,
) -> Result<Searched, CapacityError> {
    let (mut config, lever) = prepare_run(args, &plan)?;
    config.worker_threads = workers;
    config.shards = workers * 4;
    let program = std::sync::Arc::clone(&config.program);
    let how = match lever {
        Lever::Users { spawn_rate } => format!("users added at {spawn_rate}/s"),
        Lever::Rate => format!("arrival rate, {}", config.plan.describe()),
    };
    log.line(&format!(
        "cicada capacity: target {} — scenario {} — SLOs {} — {how} — steps of {:?} once \
         reached ({:?} warm-up)",
        config.target.url,
        config.program.name,
        args.slos.join(", "),
        plan.step,
        plan.warmup
    ));
    let handle = match Runner::start(config).await {
        Ok(h) => h,
        Err(RunError::Unreachable(e)) => return Err(CapacityError::Unreachable(e)),
        Err(e) => return Err(CapacityError::Engine(e)),
    };
    let control = handle.control();
    let started = std::time::Instant::now()
        .checked_sub(control.elapsed())
        .unwrap_or_else(std::time::Instant::now);
    let monitor = Monitor::start(MonitorConfig::default(), started).ok();
    let mut search = plan.search;
    let interrupted = tokio::select! {
        r = drive(Stepper::new(&control, &program, lever, plan.step, plan.warmup), &mut search, log) => {
            if let Err(e) = r {
                log.line(&format!("error: {e}"));
            }
            false
        }
        _ = interrupted => true,
    };
    control.stop();
    let result = search.result();
    let resources = match monitor {
        Some(m) => m.stop().await.resources,
        None => None,
    };
    let mut report = match handle.wait().await {
        Ok(r) => r,
        Err(RunError::Failed { message, partial }) => {
            log.line(&format!(
                "error: the run failed: {message}; writing the partial report"
            ));
            *partial
        }
        Err(e) => return Err(CapacityError::Engine(e)),
    };
    if !interrupted {
        // The search ended the run on purpose (`stop()`), which the engine records as an
        // interruption; only a signal is one here.
        report.run.interrupted = false;
        report
            .verdict
            .warnings
            .retain(|w| !w.starts_with("the run was interrupted"));
    }
    attach_analysis(
        &mut report,
        Collected {
            resources,
            capacity: Some(result.clone()),
            ..Collected::default()
        },
        &FindingsConfig::default(),
    );
    report.verdict = capacity_verdict(&result, std::mem::take(&mut report.verdict.warnings));
    Ok(Searched { report, result })
}

/// The verdict of a capacity search, for every front end and the exit code: it passes when a
/// load met every SLO. Failed requests are judged by the SLOs (a search drives the target into
/// overload on purpose), so they do not fail it by themselves.
pub fn capacity_verdict(result: &CapacityResult, warnings: Vec<String>) -> Verdict {
    let passed = result.max_passing_load.is_some();
    Verdict {
        passed,
        failed: Vec::new(),
        warnings,
        reason: result.headline.clone(),
        exit_code: Some(u8::from(!passed)),
        unallowed_failures: 0,
        exit_code_on_error: 0,
    }
}

/// Run the search to its end: move to each load it names, hold it and record the measurement.
async fn drive(
    stepper: Result<Stepper<'_>, String>,
    search: &mut CapacitySearch,
    log: &dyn Log,
) -> Result<(), String> {
    let mut stepper = stepper?;
    let unit = match stepper.lever() {
        Lever::Users { .. } => "users",
        Lever::Rate => "iterations/s",
    };
    let mut next = search.next();
    while let Next::Run(load) = next {
        log.line(&format!("cicada capacity: step at {load} {unit}..."));
        let o = stepper.run(load).await;
        let m = &o.measurement;
        let mut notes = Vec::new();
        if o.ramp_s >= 0.5 {
            notes.push(format!("ramp {:.0} s not measured", o.ramp_s));
        }
        if o.dropped > 0 {
            notes.push(format!(
                "{} arrivals dropped at the concurrency cap (counted as failures)",
                o.dropped
            ));
        }
        if let Some(lag) = o.worst_lag_p99_ms.filter(|l| *l > LATE_LAG_MS) {
            notes.push(format!(
                "iterations started up to {lag:.0} ms late (p99 schedule lag): the generator is \
                 short of CPU, so this step's latency is overstated"
            ));
        }
        if o.on_start_failures > 0 {
            notes.push(format!(
                "{} on_start requests failed: those users run no task until a retry of \
                 on_start succeeds (1 s, 2 s, ... 30 s later), so the step ran with fewer active \
                 users; a lower --spawn-rate spreads the logins",
                o.on_start_failures
            ));
        }
        if !m.generator_healthy {
            notes.push(format!(
                "cicada used {:.0}% of its CPU: step not trusted",
                o.generator_cpu_pct
            ));
        }
        log.line(&format!(
            "cicada capacity: {load} {unit}: {:.1} req/s, P95 {:.1} ms, errors {:.2}%{}",
            m.throughput,
            m.p95_ms,
            m.error_rate * 100.0,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        ));
        next = search.record(o.measurement).map_err(|e| e.to_string())?;
    }
    Ok(())
}
