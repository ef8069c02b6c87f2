//! Command-line arguments (raw values; the library validates them into a run config).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::exit;

/// cicada: load testing with Locust's model and truthful numbers.
#[derive(Debug, Parser)]
#[command(name = "cicada", version, about, after_help = exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Each lives in its own file under `cmd/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load test from a scenario file.
    #[command(after_help = exit::HELP)]
    Run(Box<RunArgs>),
    /// Validate a scenario file and print the plan, without sending any request.
    #[command(after_help = exit::HELP)]
    Check(CheckArgs),
    /// Find the most users that meet the SLOs: double, then bisect, one held step at a time.
    #[command(after_help = exit::HELP)]
    Capacity(Box<crate::cmd::capacity::CapacityArgs>),
    /// Re-render reports (HTML, CSV, JUnit, JSON) from a saved JSON report.
    Report(crate::cmd::report::ReportArgs),
    /// Compare two saved runs per request; --fail-on gates make it a CI regression check.
    Compare(crate::cmd::compare::CompareArgs),
    /// Convert a Locust file into a commented scenario file; lists what it could not convert.
    #[command(after_help = IMPORT_HELP)]
    Import(crate::cmd::import::ImportArgs),
    /// Merge the reports of a distributed run's workers into one, exactly (histograms added),
    /// and judge the thresholds on the merged numbers.
    #[command(after_help = MERGE_HELP)]
    Merge(crate::cmd::merge::MergeArgs),
}

/// `cicada merge --help` epilogue: what is exact, and the exit codes.
const MERGE_HELP: &str = "Every request row's percentiles, mean, min and max come from the sum of the workers' histograms; counts, failures, bytes and Server-Timing sums add; seconds align by wall clock (users add up). Figures that cannot be exact are listed in the report (merged.approximations) and in the verdict's warnings.

Exit codes:
  0    the merged run passes: every threshold on the merged numbers, and no failed request
       that no error threshold allows (the workers' --exit-code-on-error is kept)
  1    a threshold fails on the merged numbers, or requests failed that no error threshold
       allows (then the workers' --exit-code-on-error code)
  2    bad input: a file unreadable or not a report, a row without a histogram (older report),
       a damaged histogram, different scenarios or thresholds, or runs that did not overlap
       for half of the shorter one (not one distributed run) without --force; nothing written
  4    a report file could not be written";

/// `cicada import --help` epilogue.
const IMPORT_HELP: &str = "What converts, and what does not: docs/scenario.md, \"Importing a Locust file\". Every construct not converted exactly is printed on stderr with its line and the reason, and listed at the top of the scenario.

Exit codes:
  0    converted (the scenario validates as `cicada check` does)
  2    bad input: unreadable file, Python syntax error, no HttpUser class, output exists without --force
  4    python3 (or --python) could not be run, or the output could not be written";

/// `cicada run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML; see docs/scenario.md).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub target: crate::managed::TargetArgs,
    #[command(flatten)]
    pub analysis: crate::analysis::AnalysisArgs,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the report as one HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-style CSV files PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Write thresholds as JUnit test cases to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Time users get to finish their current request when the run ends (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stop_timeout: Option<Duration>,
    /// Seed of every random choice (task picks, waits, generators, random feeders). Default 0.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No periodic status and no per-request table (the headline and errors still print).
    #[arg(short, long)]
    pub quiet: bool,
    /// Start even if the target does not accept a connection beforehand.
    #[arg(long)]
    pub allow_unreachable: bool,
    /// HTTPS: accept any server certificate (self-signed test targets).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Exit code when a request failed that no error threshold (error_rate or failures)
    /// allows, as Locust's flag [default: the scenario's [defaults] exit_code_on_error, else
    /// 1]; 0: such failures do not fail the run. A failed threshold exits 1 regardless.
    #[arg(long, value_name = "N")]
    pub exit_code_on_error: Option<u8>,
    /// Open connections from these local addresses, in turn: a comma-separated list and IPv4
    /// ranges, e.g. 127.0.0.1-127.0.0.4. One address has ~28,000 ports to one target, so more
    /// users than that need several.
    #[arg(long, value_name = "IPS")]
    pub local_ips: Option<String>,
    /// Start traffic at this wall-clock instant (RFC 3339, e.g. 2026-12-04T03:00:00Z), so that
    /// the generators of a split run (--execution-segment) start together; one already past
    /// starts at once, with a warning in the report.
    #[arg(long, value_name = "TIME", value_parser = parse_start_time)]
    pub start_at: Option<std::time::SystemTime>,
    /// Accepted for Locust compatibility; headless is the default without --web.
    #[arg(long, hide = true)]
    pub headless: bool,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub dist: DistArgs,
}

/// `cicada run --master` / `--worker`: a distributed run (Locust's flag names; see
/// docs/distributed.md).
#[derive(Debug, Args, Clone)]
pub struct DistArgs {
    /// Coordinate a distributed run: run no users, wait for --expect-workers workers, send
    /// each its part of the load, merge their numbers exactly, write every report here.
    #[arg(long, conflicts_with = "worker")]
    pub master: bool,
    /// Run the load for a coordinator (`cicada run --master`) at --master-host; the plan and
    /// options come from the coordinator.
    #[arg(long)]
    pub worker: bool,
    /// Workers the coordinator waits for before it starts (the run is split in this many
    /// equal parts).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "master")]
    pub expect_workers: u64,
    /// Give up when the workers have not all attached after this many seconds (default:
    /// wait until Ctrl-C).
    #[arg(long, value_name = "SECONDS", requires = "master")]
    pub expect_workers_max_wait: Option<u64>,
    /// Address the coordinator listens on; a non-loopback one (or * for all) requires
    /// --master-auth-token.
    #[arg(
        long,
        value_name = "IP",
        default_value = "127.0.0.1",
        requires = "master"
    )]
    pub master_bind_host: String,
    /// Port the coordinator listens on (0: a free one, printed at start).
    #[arg(long, value_name = "PORT", default_value_t = cicada_dist::protocol::DEFAULT_PORT, requires = "master")]
    pub master_bind_port: u16,
    /// The coordinator a worker connects to.
    #[arg(
        long,
        value_name = "HOST",
        default_value = "127.0.0.1",
        requires = "worker"
    )]
    pub master_host: String,
    /// The coordinator's port.
    #[arg(long, value_name = "PORT", default_value_t = cicada_dist::protocol::DEFAULT_PORT, requires = "worker")]
    pub master_port: u16,
    /// Shared secret of a coordinator and its workers (required when the coordinator listens
    /// beyond loopback; never logged).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CICADA_MASTER_TOKEN",
        hide_env_values = true
    )]
    pub master_auth_token: Option<String>,
    /// A peer not heard from for this long is lost (heartbeats are sent every second).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub heartbeat_timeout: Duration,
    /// Stop the whole run when a worker is lost (default: mark it lost, keep its numbers up
    /// to its last second, and let the others carry on).
    #[arg(long, requires = "master")]
    pub stop_on_worker_loss: bool,
    /// Stop the whole run as soon as a threshold fails on the merged numbers (k6's
    /// abortOnFail); judged once a second from DELAY into the run on (default 10s, so that
    /// the first seconds' few samples cannot abort a healthy run). The run then fails (exit 1).
    #[arg(
        long,
        value_name = "DELAY",
        num_args = 0..=1,
        default_missing_value = "10s",
        value_parser = parse_duration,
        requires = "master"
    )]
    pub abort_on_threshold_fail: Option<Duration>,
}

/// `cicada run --web`: the live web UI and control API (Locust's flag names).
#[derive(Debug, Args, Clone)]
pub struct WebArgs {
    /// Serve the web UI and control API and wait for a start from the page (or the API);
    /// every other flag pre-fills the form.
    #[arg(long)]
    pub web: bool,
    /// Address the web UI listens on; a non-loopback one requires --web-auth-token.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1", requires = "web")]
    pub web_host: String,
    /// Port of the web UI (0: a free one, printed at start).
    #[arg(long, value_name = "PORT", default_value_t = 8089, requires = "web")]
    pub web_port: u16,
    /// Token every request must carry (Bearer, or the Basic password a browser asks for).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CICADA_WEB_AUTH_TOKEN",
        hide_env_values = true
    )]
    pub web_auth_token: Option<String>,
    /// Start a run at once with the command line's settings (Locust's flag).
    #[arg(long, requires = "web")]
    pub autostart: bool,
    /// Quit this many seconds after a run ends (unless a new one started meanwhile).
    #[arg(long, value_name = "SECONDS", requires = "web")]
    pub autoquit: Option<u64>,
}

/// `cicada check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario file (TOML; see docs/scenario.md).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Flags shared by `run` and `check`: the load plan, host, tags and thresholds.
#[derive(Debug, Args, Clone, Default)]
pub struct LoadArgs {
    /// Target base URL, e.g. http://127.0.0.1:8000 (overrides `host` in the scenario).
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Peak number of concurrent users (closed model).
    #[arg(short, long)]
    pub users: Option<u64>,
    /// Users started per second until --users is reached (default 1, as in Locust).
    #[arg(short = 'r', long, value_name = "PER_SECOND", value_parser = parse_positive)]
    pub spawn_rate: Option<f64>,
    /// Stop after this long, ramp included: 30s, 10m, 1h30m (default 60s when nothing else bounds the run).
    #[arg(short = 't', long, value_name = "DURATION", value_parser = parse_duration)]
    pub run_time: Option<Duration>,
    /// Stop after this many task iterations in total.
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Closed-model stage DURATION:USERS (repeatable), e.g. --stage 30s:100 --stage 1m:100.
    #[arg(long = "stage", value_name = "DURATION:USERS", value_parser = parse_stage)]
    pub stages: Vec<(Duration, f64)>,
    /// Open model: start iterations at this rate per second.
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_positive)]
    pub rate: Option<f64>,
    /// Open-model ramp stage DURATION:RATE (repeatable).
    #[arg(long = "rate-stage", value_name = "DURATION:RATE", value_parser = parse_stage)]
    pub rate_stages: Vec<(Duration, f64)>,
    /// Open model: most iterations in flight at once (arrivals beyond are dropped and counted).
    #[arg(long)]
    pub max_concurrency: Option<u64>,
    /// Only run tasks with one of these tags (comma-separated or repeated).
    #[arg(short = 'T', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks with any of these tags.
    #[arg(short = 'E', long, value_delimiter = ',')]
    pub exclude_tags: Vec<String>,
    /// Pass/fail threshold (repeatable): 'p95<200ms', 'error_rate<1%',
    /// per request: 'GET /api/x: p99<500ms' or '/api/x: mean<100ms'.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Run only this part of a load split across several generators (k6's flag): FROM:TO of
    /// 0:1, e.g. 1/3:2/3. Users, spawn times, arrivals, iteration bounds and shared feeder
    /// rows are this part's of the whole run; give every generator the whole run's flags.
    #[arg(long, value_name = "FROM:TO")]
    pub execution_segment: Option<String>,
    /// The whole split, e.g. 0,1/3,2/3,1 (default: 0,FROM,TO,1); --execution-segment must be
    /// one of its segments.
    #[arg(long, value_name = "0,...,1")]
    pub execution_segment_sequence: Option<String>,
}

fn parse_start_time(s: &str) -> Result<std::time::SystemTime, String> {
    cicada::start_time::parse_start_time(s).map_err(|e| e.to_string())
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

fn parse_stage(s: &str) -> Result<(Duration, f64), String> {
    let (d, t) = s
        .split_once(':')
        .ok_or_else(|| format!("expected DURATION:TARGET like 30s:100, got {s:?}"))?;
    let target = t
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| *v >= 0.0 && v.is_finite())
        .ok_or_else(|| format!("stage target must be a number of zero or more, got {t:?}"))?;
    Ok((parse_duration(d)?, target))
}
