//! `cicada capacity`: find the most users that meet the SLOs.
//!
//! One run of the engine carries the whole search: `capacity::CapacitySearch` names a user
//! count, the run holds it (`RunControl::set_users`) for `--step-time`, the first `--warmup` of
//! the step is discarded, and the rest is measured from the run's per-second timeline:
//! throughput, error rate and P95 (the request-weighted mean of the per-second P95s). A step on
//! which cicada itself used ≥ 90 % of its CPU is marked unhealthy, which stops the search. At the
//! end the report (JSON/HTML) carries `analysis.capacity` with every step and the USL fit.

use std::path::PathBuf;
use std::time::Duration;

use cicada::launch::{LaunchOptions, prepare};
use cicada::runner::{RunControl, RunError, Runner};
use cicada::scenario::{CompileOptions, LoadSpec};
use cicada_analysis::capacity::{CapacityConfig, CapacitySearch, Next, Slo, StepMeasurement};
use cicada_analysis::findings::FindingsConfig;
use cicada_analysis::monitor::{Monitor, MonitorConfig};
use cicada_analysis::resources::ProcessSampler;
use cicada_analysis::{Collected, attach_analysis};
use cicada_report::analysis_model::CapacityResult;
use cicada_report::model::IntervalSample;
use cicada_report::{OutputOptions, RunReport, write_outputs};
use clap::Args;

use crate::exit;

/// The generator counts as saturated at this share of the CPU it may use.
const GENERATOR_CPU_LIMIT_PCT: f64 = 90.0;

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
    /// First user count to try.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub start_users: u64,
    /// Never try more users than this.
    #[arg(long, default_value_t = 1000, value_name = "M")]
    pub max_users: u64,
    /// How long each step holds its user count, warm-up included.
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

/// The validated search settings.
struct Plan {
    search: CapacitySearch,
    step: Duration,
    warmup: Duration,
    bound: Duration,
}

fn plan(args: &CapacityArgs) -> Result<Plan, String> {
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
    let config = CapacityConfig {
        max_steps: args.max_steps,
        ..CapacityConfig::users(args.start_users as f64, args.max_users as f64, slos)
    };
    let search = CapacitySearch::new(config).map_err(|e| e.to_string())?;
    let steps = u32::try_from(args.max_steps).unwrap_or(u32::MAX);
    Ok(Plan {
        search,
        step: args.step_time,
        warmup: args.warmup,
        bound: args.step_time.saturating_mul(steps) + Duration::from_secs(60),
    })
}

pub fn capacity(args: CapacityArgs) -> i32 {
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let options = LaunchOptions {
        scenario_path: args.scenario.clone(),
        host: args.host.clone(),
        load: LoadSpec {
            users: Some(args.start_users),
            spawn_rate: Some(args.start_users.max(1) as f64 * 10.0),
            run_time: Some(plan.bound),
            ..LoadSpec::default()
        },
        compile: CompileOptions::default(),
        seed: args.seed,
        insecure: args.insecure,
        ..LaunchOptions::default()
    };
    let (rt, workers) = match super::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return exit::INTERNAL;
        }
    };
    rt.block_on(run_async(args, options, plan, workers))
}

async fn run_async(args: CapacityArgs, options: LaunchOptions, plan: Plan, workers: usize) -> i32 {
    let mut config = match prepare(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    config.worker_threads = workers;
    config.shards = workers * 4;
    eprintln!(
        "cicada capacity: target {} — scenario {} — SLOs {} — steps of {:?} ({:?} warm-up)",
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
        r = drive(&control, &mut search, plan.step, plan.warmup) => {
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

/// Run the search to its end: hold each load it names and record the measurement.
async fn drive(
    control: &RunControl,
    search: &mut CapacitySearch,
    step: Duration,
    warmup: Duration,
) -> Result<(), String> {
    let mut sampler = ProcessSampler::current().map_err(|e| e.to_string())?;
    let mut next = search.next();
    while let Next::Run(users) = next {
        control.set_users(users as u64);
        let start = control.elapsed();
        eprintln!("cicada capacity: step at {users} users...");
        tokio::time::sleep(warmup).await;
        let _ = sampler.sample(0.0);
        tokio::time::sleep(step - warmup).await;
        let cpu = sampler.sample(0.0).map_or(0.0, |s| s.cpu_available_pct);
        // Let the runner close the last whole second of the step before reading it.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let report = control.snapshot();
        let from = (start + warmup).as_secs_f64().ceil() as u64 + 1;
        let to = (start + step).as_secs_f64().floor() as u64;
        let window: Vec<&IntervalSample> = report
            .timeline
            .iter()
            .filter(|s| s.elapsed_s >= from && s.elapsed_s <= to)
            .collect();
        let m = measure(users, &window, warmup, cpu < GENERATOR_CPU_LIMIT_PCT);
        eprintln!(
            "cicada capacity: {users} users: {:.1} req/s, P95 {:.1} ms, errors {:.2}%{}",
            m.throughput,
            m.p95_ms,
            m.error_rate * 100.0,
            if m.generator_healthy {
                String::new()
            } else {
                format!(" (cicada used {cpu:.0}% of its CPU: step not trusted)")
            }
        );
        next = search.record(m).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One step's numbers from its measured seconds.
fn measure(
    users: f64,
    window: &[&IntervalSample],
    warmup: Duration,
    generator_healthy: bool,
) -> StepMeasurement {
    let seconds = window.len() as f64;
    let requests: u64 = window.iter().map(|s| s.requests).sum();
    let failures: u64 = window.iter().map(|s| s.failures).sum();
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
        load: users,
        warmup_discarded_s: warmup.as_secs_f64(),
        measured_s: seconds,
        throughput: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p95_ms: p95,
        error_rate: if requests == 0 {
            // Nothing completed: count it as failing rather than as a perfect step.
            1.0
        } else {
            failures as f64 / requests as f64
        },
        generator_healthy,
    }
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
        "users", "req/s", "P95 ms", "errors"
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
            "USL fit: σ = {:.4}, κ = {:.5}, λ = {:.2}, R² = {:.3}",
            u.sigma, u.kappa, u.lambda, u.r_squared
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
