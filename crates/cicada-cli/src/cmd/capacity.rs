//! `cicada capacity`: find the most users (or the highest arrival rate) that meet the SLOs.
//! The search itself is `cicada_session::capacity`; this file maps the flags in, prints the
//! steps and the USL fit, writes the reports and maps the result to an exit code.

use std::path::PathBuf;
use std::time::Duration;

use cicada_render::{OutputOptions, write_outputs};
use cicada_report::RunReport;
use cicada_report::analysis_model::{CapacityResult, LoadUnit};
use cicada_session::capacity::{CapacityError, CapacityOptions, Plan, Searched, run};
use cicada_session::log::Stderr;
use cicada_session::signals::wait_for_signal;
use clap::Args;

use crate::exit;

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

impl CapacityArgs {
    fn options(&self) -> CapacityOptions {
        CapacityOptions {
            scenario: self.scenario.clone(),
            host: self.host.clone(),
            slos: self.slos.clone(),
            start_users: self.start_users,
            max_users: self.max_users,
            spawn_rate: self.spawn_rate,
            rate_start: self.rate_start,
            max_rate: self.max_rate,
            max_concurrency: self.max_concurrency,
            step_time: self.step_time,
            warmup: self.warmup,
            max_steps: self.max_steps,
            seed: self.seed,
            insecure: self.insecure,
        }
    }
}

pub fn capacity(args: CapacityArgs) -> i32 {
    let options = args.options();
    let plan = match Plan::new(&options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    super::block_on(|workers| run_async(args, options, plan, workers))
}

async fn run_async(
    args: CapacityArgs,
    options: CapacityOptions,
    plan: Plan,
    workers: usize,
) -> i32 {
    match run(&options, plan, workers, &Stderr, wait_for_signal()).await {
        Ok(Searched { mut report, result }) => finish(&args, &mut report, result),
        Err(e @ CapacityError::Setup(_)) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
        Err(e @ CapacityError::Unreachable(_)) => {
            eprintln!("error: {e}\n(nothing was sent; start the target or fix -H/--host)");
            exit::UNREACHABLE
        }
        Err(e @ CapacityError::Engine(_)) => {
            eprintln!("error: {e}");
            exit::INTERNAL
        }
    }
}

fn finish(args: &CapacityArgs, report: &mut RunReport, result: CapacityResult) -> i32 {
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
    } else {
        i32::from(report.verdict.exit_code())
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
