//! `cicada capacity`: find the most users (or the highest arrival rate) that meet the SLOs.
//!
//! One run of the engine carries the whole search: `capacity::CapacitySearch` names a load,
//! [`step::Stepper`] moves the run there (users at `--spawn-rate`, or the arrival rate at once),
//! holds it for `--step-time` after it is reached, discards the first `--warmup` and measures
//! the rest from the run's per-second timeline. A step on which cicada itself used ≥ 90 % of
//! its CPU is marked unhealthy, which stops the search. At the end the report (JSON/HTML)
//! carries `analysis.capacity` with every step and, for a search over users, the USL fit.

mod step;

use std::path::PathBuf;
use std::time::Duration;

use cicada::launch::{LaunchOptions, SetupError, prepare};
use cicada::runner::{RunConfig, RunError, Runner};
use cicada::scenario::{CompileOptions, LoadSpec};
use cicada_analysis::capacity::{CapacityConfig, CapacitySearch, Next, Slo};
use cicada_analysis::findings::FindingsConfig;
use cicada_analysis::monitor::{Monitor, MonitorConfig};
use cicada_analysis::{Collected, attach_analysis};
use cicada_report::analysis_model::{CapacityResult, LoadUnit};
use cicada_report::{OutputOptions, RunReport, write_outputs};
use clap::Args;

use crate::exit;
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

/// `cicada capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario file (TOML; see docs/scenario.md). Its user types and tasks are used; the
    /// load plan comes from the search.
    pub scenario: PathBuf,
    /// Target base URL (overrides `host` in the scenario).
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Service-level objective (repeatable, at least one): 'p95<200ms', 'error_rate<1%', 'rps>=500'.
    #[arg(long = "slo", value_name = "EXPR", required = true)]
    pub slos: Vec<String>,
    /// Search over users (closed model): the first user count to try [default: 10].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub start_users: Option<u64>,
    /// Search over users: never try more users than this [default: 1000].
    #[arg(long, value_name = "M", value_parser = parse_count)]
    pub max_users: Option<u64>,
    /// Search over users: users started per second when a step adds users (Locust's spawn
    /// rate); the step's warm-up starts once its user count is reached [default: the scenario's
    /// [load] spawn_rate, else 10].
    #[arg(short = 'r', long, value_name = "PER_SECOND", value_parser = parse_positive)]
    pub spawn_rate: Option<f64>,
    /// Search over the arrival rate (open model) instead of users: the first rate to try, in
    /// iterations per second [default: 10 when --max-rate or --max-concurrency is given].
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_positive)]
    pub rate_start: Option<f64>,
    /// Search over the arrival rate: never try a higher rate than this [default: 1000].
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_positive)]
    pub max_rate: Option<f64>,
    /// Search over the arrival rate: most iterations in flight at once; arrivals beyond are
    /// dropped and count as failed requests [default: the scenario's, else 1000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub max_concurrency: Option<u64>,
    /// How long each step holds its load once reached, warm-up included.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub step_time: Duration,
    /// The first part of each step that is not measured.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub warmup: Duration,
    /// At most this many steps.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub max_steps: usize,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the report as one HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Seed of every random choice. Default 0.
    #[arg(long)]
    pub seed: Option<u64>,
    /// HTTPS: accept any server certificate (self-signed test targets).
    #[arg(short = 'k', long)]
    pub insecure: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cicada::duration::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a positive number, got {s:?}")),
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("expected a whole number of at least 1, got {s:?}")),
    }
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
struct Plan {
    mode: Mode,
    search: CapacitySearch,
    step: Duration,
    warmup: Duration,
}

fn mode(args: &CapacityArgs) -> Result<Mode, String> {
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

fn plan(args: &CapacityArgs) -> Result<Plan, String> {
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
fn prepare_run(args: &CapacityArgs, plan: &Plan) -> Result<(RunConfig, Lever), SetupError> {
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

pub fn capacity(args: CapacityArgs) -> i32 {
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    super::block_on(|workers| run_async(args, plan, workers))
}

async fn run_async(args: CapacityArgs, plan: Plan, workers: usize) -> i32 {
    let (mut config, lever) = match prepare_run(&args, &plan) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    config.worker_threads = workers;
    config.shards = workers * 4;
    let program = std::sync::Arc::clone(&config.program);
    let how = match lever {
        Lever::Users { spawn_rate } => format!("users added at {spawn_rate}/s"),
        Lever::Rate => format!("arrival rate, {}", config.plan.describe()),
    };
    eprintln!(
        "cicada capacity: target {} — scenario {} — SLOs {} — {how} — steps of {:?} once \
         reached ({:?} warm-up)",
        config.target.url,
        config.program.name,
        args.slos.join(", "),
        plan.step,
        plan.warmup
    );
    let handle = match Runner::start(config).await {
        Ok(h) => h,
        Err(RunError::Unreachable(e)) => {
            eprintln!("error: {e}\n(nothing was sent; start the target or fix -H/--host)");
            return exit::UNREACHABLE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let control = handle.control();
    let started = std::time::Instant::now()
        .checked_sub(control.elapsed())
        .unwrap_or_else(std::time::Instant::now);
    let monitor = Monitor::start(MonitorConfig::default(), started).ok();
    let mut search = plan.search;
    let interrupted = tokio::select! {
        r = drive(Stepper::new(&control, &program, lever, plan.step, plan.warmup), &mut search) => {
            if let Err(e) = r {
                eprintln!("error: {e}");
            }
            false
        }
        _ = super::run::wait_for_signal() => true,
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
            eprintln!("error: the run failed: {message}; writing the partial report");
            *partial
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
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
    finish(&args, &mut report, result, resources)
}

/// Run the search to its end: move to each load it names, hold it and record the measurement.
async fn drive(
    stepper: Result<Stepper<'_>, String>,
    search: &mut CapacitySearch,
) -> Result<(), String> {
    let mut stepper = stepper?;
    let unit = match stepper.lever() {
        Lever::Users { .. } => "users",
        Lever::Rate => "iterations/s",
    };
    let mut next = search.next();
    while let Next::Run(load) = next {
        eprintln!("cicada capacity: step at {load} {unit}...");
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
        eprintln!(
            "cicada capacity: {load} {unit}: {:.1} req/s, P95 {:.1} ms, errors {:.2}%{}",
            m.throughput,
            m.p95_ms,
            m.error_rate * 100.0,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        );
        next = search.record(o.measurement).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn finish(
    args: &CapacityArgs,
    report: &mut RunReport,
    result: CapacityResult,
    resources: Option<cicada_report::analysis_model::ResourceSeries>,
) -> i32 {
    let passed = result.max_passing_load.is_some();
    println!("\nCapacity steps:");
    println!(
        "  {:>8} {:>10} {:>10} {:>8}  verdict",
        match result.load_unit {
            LoadUnit::Users => "users",
            LoadUnit::ArrivalRate => "iter/s",
        },
        "req/s",
        "P95 ms",
        "errors"
    );
    for s in &result.steps {
        println!(
            "  {:>8} {:>10.1} {:>10.1} {:>7.2}%  {}",
            s.load,
            s.throughput,
            s.p95_ms,
            s.error_rate * 100.0,
            if s.passed { "pass" } else { "fail" }
        );
    }
    match &result.usl {
        Some(u) => println!(
            "USL fit: σ = {}, κ = {}, λ = {}, R² = {:.3}{}",
            significant(u.sigma),
            significant(u.kappa),
            significant(u.lambda),
            u.r_squared,
            match (u.peak_concurrency, u.predicted_max_throughput) {
                (Some(n), Some(x)) => format!("; peak at {n:.0} users, {x:.1} req/s"),
                (None, Some(x)) => format!("; no peak, throughput tends to {x:.1} req/s"),
                _ => String::new(),
            }
        ),
        None => println!(
            "USL fit: none ({})",
            result.usl_error.as_deref().unwrap_or("not enough points")
        ),
    }
    println!("Stopped: {}", result.stop_reason);
    let headline = result.headline.clone();
    attach_analysis(
        report,
        Collected {
            resources,
            capacity: Some(result),
            ..Collected::default()
        },
        &FindingsConfig::default(),
    );
    let errors = write_outputs(
        report,
        &OutputOptions {
            json: args.json.clone(),
            html: args.html.clone(),
            csv_prefix: None,
            junit: None,
        },
    );
    for e in &errors {
        eprintln!("error: {e}");
    }
    for w in &report.verdict.warnings {
        println!("warning: {w}");
    }
    println!("\n{headline}");
    if report.run.interrupted {
        exit::INTERRUPTED
    } else if !errors.is_empty() {
        exit::INTERNAL
    } else if passed {
        exit::PASS
    } else {
        exit::THRESHOLDS_FAILED
    }
}

/// Three decimals, or scientific notation with three digits when tiny or huge (κ is often ~1e-7).
fn significant(v: f64) -> String {
    if v == 0.0 || (1e-2..1e4).contains(&v.abs()) {
        format!("{:.3}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        format!("{v:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn usl_parameters_keep_their_digits() {
        assert_eq!(significant(1.108_228_867e-7), "1.11e-7");
        assert_eq!(significant(0.0), "0");
        assert_eq!(significant(0.679_431), "0.679");
        assert_eq!(significant(0.05), "0.05");
        assert_eq!(significant(0.000_52), "5.20e-4");
    }
}
