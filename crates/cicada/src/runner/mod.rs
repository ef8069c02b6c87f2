//! The runner: drives a [`LoadPlan`] of virtual users against a target and returns a
//! [`RunReport`]. [`Runner::start`] returns a [`RunHandle`] to stop the run, change its target
//! users or rate while it runs, and take cheap in-progress snapshots.
//!
//! Design for speed: each user owns one keep-alive connection ([`crate::http::UserClient`],
//! the engine's own HTTP/1.1 client), driven inside the user's own task (no connection task, no
//! wake-up across tasks per request) and parked — stream kept, buffers freed — while the user
//! waits 50 ms or more; it records
//! into one of a few stats shards (no lock shared by all users, no message per request); a
//! collector drains the shards once a second and merges exactly.

mod clock;
mod closed;
pub mod custom;
mod exec;
mod flow;
mod machine;
mod open;
mod rows;
mod spread;
pub(crate) use spread::TypeSpread;
mod user;
mod vu;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cicada_report::RunReport;
use cicada_report::model::UserTypeInfo;
use tokio_util::sync::CancellationToken;

use crate::http::tls::{TlsError, TlsSetup};
use crate::http::{ClientSettings, UnreachableError, preflight, resolve};
use crate::plan::{LoadPlan, PlanModel};
use crate::scenario::compile::Program;
use crate::stats::report::{ReportMeta, UserCounts, build_report};
use crate::stats::{Collector, IntervalContext, Shards};
use crate::target::{Target, TargetError};

pub use machine::machine_info;
pub use vu::user_seed;

/// Default time users get to finish their current request (and `on_stop`) when a run ends.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a run needs, validated.
#[derive(Debug)]
pub struct RunConfig {
    pub program: Arc<Program>,
    pub plan: LoadPlan,
    pub target: Target,
    /// Seed of every random choice (task picks, waits, generators, random feeders).
    pub seed: u64,
    /// How long users get to finish when the run ends or is stopped.
    pub stop_timeout: Duration,
    /// Connect once before starting and fail with [`RunError::Unreachable`] if that fails.
    pub check_reachable: bool,
    /// HTTPS: accept any server certificate (`--insecure`).
    pub insecure: bool,
    /// Local addresses connections are opened from, in turn (`--local-ips`; empty: the
    /// system's choice). Their family must be the target's.
    pub local_addrs: Vec<std::net::IpAddr>,
    /// Stats shards; default: 4 per worker thread.
    pub shards: usize,
    /// Worker threads of the runtime (recorded in the report).
    pub worker_threads: usize,
    /// The verdict's exit code when requests failed that no error threshold allows
    /// (`--exit-code-on-error`, Locust's flag); 0 lets them pass. See [`crate::verdict`].
    pub exit_code_on_error: u8,
    /// This generator's part of a run split across several ([`crate::segment`]); the whole
    /// run by default. Users, spawn instants, arrival-rate iterations, iteration bounds and
    /// shared feeder rows are those of the segment; per-user randomness and per-user feeder
    /// rows follow from [`RunConfig::seed`] and the whole run's user index, so every worker of
    /// a split run takes the same seed. [`RunControl::set_users`] and
    /// [`RunControl::set_rate`] take the whole run's numbers.
    pub segment: crate::segment::Stripe,
    /// Start traffic at this wall-clock instant (workers of a distributed run start together):
    /// [`Runner::start`] returns at once and the run waits; the report's `started_at` is this
    /// instant and [`RunControl::elapsed`] counts from it. `None`, or an instant already
    /// past: at once (a start more than [`LATE_START_AFTER`] late is reported as a warning).
    pub start_at: Option<std::time::SystemTime>,
}

impl RunConfig {
    /// A config with defaults: seed 0, [`DEFAULT_STOP_TIMEOUT`], reachability checked.
    pub fn new(program: Program, plan: LoadPlan, host: &str) -> Result<Self, TargetError> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            program: Arc::new(program),
            plan,
            target: Target::parse(host)?,
            seed: 0,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            check_reachable: true,
            insecure: false,
            local_addrs: Vec::new(),
            shards: workers * 4,
            worker_threads: workers,
            exit_code_on_error: cicada_report::model::DEFAULT_EXIT_CODE_ON_ERROR,
            segment: crate::segment::Stripe::FULL,
            start_at: None,
        })
    }

    /// The host to use: the command line's, else the scenario's `[defaults] host`.
    pub fn choose_host(cli_host: Option<&str>, program: &Program) -> Result<Target, TargetError> {
        let host = cli_host
            .or(program.defaults.host.as_deref())
            .ok_or(TargetError::Missing)?;
        Target::parse(host)
    }
}

/// Why a run could not start, or ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Unreachable(#[from] UnreachableError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("--local-ips {local} cannot reach the target at {target}: the address families differ")]
    LocalFamily {
        local: std::net::IpAddr,
        target: std::net::SocketAddr,
    },
    #[error("internal error in the runner: {0}")]
    Internal(String),
    /// The run failed part-way; what was measured until then is kept.
    #[error("the run failed: {message}")]
    Failed {
        message: String,
        partial: Box<RunReport>,
    },
}

/// State shared by the driver, the users and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub program: Arc<Program>,
    pub plan: LoadPlan,
    pub base_path: String,
    /// What each request sends the same every time, by request id.
    pub prepared: Vec<crate::http::Prepared>,
    pub settings: Arc<ClientSettings>,
    pub shards: Shards,
    /// The program's rows and those custom steps made.
    pub rows: Arc<rows::RowTable>,
    /// What custom steps need of the run.
    pub custom: Arc<custom::CustomEnv>,
    pub collector: Mutex<Collector>,
    /// Users alive per user type.
    pub alive: Vec<AtomicU64>,
    pub peak: Vec<AtomicU64>,
    pub in_flight: AtomicU64,
    pub peak_in_flight: AtomicU64,
    /// Iterations claimed against the iteration bound.
    pub iterations: AtomicU64,
    /// This generator's part of the run ([`crate::segment`]).
    pub segment: crate::segment::Stripe,
    /// Closed model: this generator's share of the plan's iteration bound.
    pub iteration_limit: Option<u64>,
    /// How late traffic started after the requested `start_at`, when it was already past.
    pub late_start: Option<Duration>,
    /// Open model: iterations dropped since the last collection.
    pub dropped: AtomicU64,
    pub scheduled: AtomicU64,
    /// Users created (both models).
    pub spawned: AtomicU64,
    /// Users whose `on_start` succeeded (each counted once: a started user never runs it again).
    pub users_started: AtomicU64,
    /// Failed `on_start` attempts, by the row of the request that failed.
    pub on_start_failed: Vec<AtomicU64>,
    /// Cancelled to end the run (by time, iterations, or a stop request).
    pub stop: CancellationToken,
    pub interrupted: AtomicBool,
    /// Cancelled to cut the graceful stop short (users in flight are cancelled at once).
    pub force: CancellationToken,
    /// Users or rate set through the handle, overriding the plan.
    pub override_level: Mutex<Option<f64>>,
    pub start: Instant,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub seed: u64,
    pub stop_timeout: Duration,
    pub worker_threads: usize,
    pub target_url: String,
    pub exit_code_on_error: u8,
}

impl Shared {
    pub fn level(&self, elapsed: Duration) -> f64 {
        let o = *self
            .override_level
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        o.unwrap_or_else(|| self.plan.target_at(elapsed))
    }

    pub fn users_now(&self) -> u64 {
        if self.plan.is_open() {
            self.in_flight.load(Ordering::Relaxed)
        } else {
            self.alive.iter().map(|a| a.load(Ordering::Relaxed)).sum()
        }
    }

    fn meta(&self, interrupted: bool) -> ReportMeta {
        let now = chrono::Utc::now();
        ReportMeta {
            scenario: self.program.name.clone(),
            scenario_file: self.program.source_file.clone(),
            host: self.target_url.clone(),
            plan: self.plan.info(),
            started_at: self
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ended_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_s: self.start.elapsed().as_secs_f64(),
            interrupted,
            seed: self.seed,
            tags: self.program.tags.clone(),
            exclude_tags: self.program.exclude_tags.clone(),
            user_types: self
                .program
                .user_types
                .iter()
                .zip(&self.peak)
                .map(|(u, p)| UserTypeInfo {
                    name: u.name.clone(),
                    weight: u.weight,
                    peak_users: p.load(Ordering::Relaxed),
                })
                .collect(),
            machine: machine_info(self.worker_threads),
            open: self.plan.is_open(),
            peak_concurrency: self.peak_in_flight.load(Ordering::Relaxed),
            scheduled_iterations: self.scheduled.load(Ordering::Relaxed),
            warnings: self.warnings(),
            segment: (!self.segment.is_full()).then(|| self.segment.to_string()),
            exit_code_on_error: self.exit_code_on_error,
            users: self.user_counts(),
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.plan.default_bound {
            out.push(format!(
                "no run time or iteration bound was given: the default bound of {} applied",
                crate::duration::format_duration(crate::plan::DEFAULT_RUN_TIME)
            ));
        }
        if let Some(late) = self.late_start {
            out.push(format!(
                "traffic started {} ms after the requested start time, which had already passed \
                 when the run was started (a split run's workers did not start together)",
                late.as_millis()
            ));
        }
        out
    }

    /// Users spawned, those that never started, and the row whose `on_start` request failed
    /// most often.
    fn user_counts(&self) -> UserCounts {
        let spawned = self.spawned.load(Ordering::Relaxed);
        let started = self.users_started.load(Ordering::Relaxed);
        let failed_row = self
            .on_start_failed
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .max_by_key(|(row, n)| (*n, std::cmp::Reverse(*row)))
            .map(|(row, _)| row);
        UserCounts {
            spawned,
            never_started: spawned.saturating_sub(started),
            failed_row,
        }
    }

    /// A report of everything collected so far.
    pub fn snapshot(&self, interrupted: bool) -> RunReport {
        let c = self.collector.lock().unwrap_or_else(|p| p.into_inner());
        self.rows.with(|rows| {
            build_report(
                &c,
                &rows[..c.row_count().min(rows.len())],
                &self.program.thresholds,
                self.meta(interrupted),
            )
        })
    }
}

/// Starts runs.
#[derive(Debug)]
pub struct Runner;

impl Runner {
    /// Resolve the target, check it answers (unless disabled), and start the run in the
    /// background on the current Tokio runtime.
    pub async fn start(config: RunConfig) -> Result<RunHandle, RunError> {
        let target = config.target.clone();
        let addrs = resolve(&target).await?;
        let addr = if config.check_reachable {
            preflight(&target, &addrs, config.program.defaults.connect_timeout).await?
        } else {
            addrs[0]
        };
        let tls = if target.tls {
            Some(TlsSetup::new(&target.host, config.insecure)?)
        } else {
            None
        };
        if let Some(local) = config
            .local_addrs
            .iter()
            .find(|ip| ip.is_ipv4() != addr.is_ipv4())
        {
            return Err(RunError::LocalFamily {
                local: *local,
                target: addr,
            });
        }
        let defaults = &config.program.defaults;
        let mut settings = ClientSettings::new(target.clone(), addr);
        settings.connect_timeout = defaults.connect_timeout;
        settings.request_timeout = defaults.request_timeout;
        settings.max_connection_lifetime = defaults.max_connection_lifetime;
        settings.tls = tls;
        settings.local_addrs = config.local_addrs.clone();
        let settings = Arc::new(settings);
        let rows = config.program.rows.len();
        let types = config.program.user_types.len();
        let row_table = Arc::new(rows::RowTable::new(&config.program.rows));
        let (start, started_at, late_start) = start_instant(config.start_at);
        let shared = Arc::new(Shared {
            custom: Arc::new(custom::CustomEnv {
                program: Arc::clone(&config.program),
                rows: Arc::clone(&row_table),
                base_path: target.base_path.clone(),
            }),
            rows: row_table,
            prepared: exec::prepare(&config.program, &target.base_path, &settings.host),
            base_path: target.base_path.clone(),
            settings,
            shards: Shards::new(config.shards, rows),
            collector: Mutex::new(Collector::new(rows)),
            alive: (0..types).map(|_| AtomicU64::new(0)).collect(),
            peak: (0..types).map(|_| AtomicU64::new(0)).collect(),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            iteration_limit: config.plan.iterations.map(|n| config.segment.share(n)),
            segment: config.segment,
            late_start,
            dropped: AtomicU64::new(0),
            scheduled: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            users_started: AtomicU64::new(0),
            on_start_failed: (0..rows).map(|_| AtomicU64::new(0)).collect(),
            stop: CancellationToken::new(),
            interrupted: AtomicBool::new(false),
            force: CancellationToken::new(),
            override_level: Mutex::new(None),
            start,
            started_at,
            seed: config.seed,
            stop_timeout: config.stop_timeout,
            worker_threads: config.worker_threads,
            target_url: target.url.clone(),
            exit_code_on_error: config.exit_code_on_error,
            program: config.program,
            plan: config.plan,
        });
        let join = tokio::spawn(drive(Arc::clone(&shared)));
        Ok(RunHandle {
            control: RunControl { shared },
            join,
        })
    }
}

/// When traffic starts: at `start_at` if it is ahead (the monotonic instant that far from
/// now, the report's start being `start_at` itself), else at once — and how late that is
/// when `start_at` had passed by more than [`LATE_START_AFTER`].
fn start_instant(
    start_at: Option<std::time::SystemTime>,
) -> (Instant, chrono::DateTime<chrono::Utc>, Option<Duration>) {
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    match start_at.map(|at| at.duration_since(wall)) {
        Some(Ok(ahead)) => (now + ahead, start_at.expect("given").into(), None),
        Some(Err(past)) => {
            let late = past.duration();
            (now, wall.into(), (late > LATE_START_AFTER).then_some(late))
        }
        None => (now, wall.into(), None),
    }
}

/// A `start_at` passed by more than this when the run is started is reported as a late start.
pub const LATE_START_AFTER: Duration = Duration::from_millis(10);

/// A cloneable way to steer a running run.
#[derive(Debug, Clone)]
pub struct RunControl {
    shared: Arc<Shared>,
}

impl RunControl {
    /// Stop the run early: users finish their current request (bounded by the stop timeout),
    /// and the report is marked interrupted.
    pub fn stop(&self) {
        self.shared.interrupted.store(true, Ordering::SeqCst);
        self.shared.stop.cancel();
    }

    /// Stop at once: like [`RunControl::stop`], but users still in flight are cancelled
    /// without waiting for the stop timeout (a second Ctrl-C). The report is still produced.
    pub fn force_stop(&self) {
        self.stop();
        self.shared.force.cancel();
    }

    /// Closed model: hold this many users from now on (spawned/stopped at once).
    /// Returns false for an open-model run.
    ///
    /// `users` is the *whole run's* count, also when this generator runs a segment of it
    /// ([`RunConfig::segment`]): it holds its exact share, `segment.share(users)` — the users
    /// `k < users` of its stripe — so a coordinator sends every worker the same number and
    /// the union holds `users`. [`RunControl::users`] reports this generator's own users.
    pub fn set_users(&self, users: u64) -> bool {
        if self.shared.plan.is_open() {
            return false;
        }
        *self
            .shared
            .override_level
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(users as f64);
        true
    }

    /// Open model: start iterations at this rate (per second) from now on.
    /// Returns false for a closed-model run or a rate that is not positive.
    ///
    /// Like [`RunControl::set_users`], `per_second` is the *whole run's* rate: a generator
    /// running a segment starts the arrivals of its stripe of the whole run's schedule, about
    /// `width · per_second` a second.
    pub fn set_rate(&self, per_second: f64) -> bool {
        if !(self.shared.plan.is_open() && per_second > 0.0 && per_second.is_finite()) {
            return false;
        }
        *self
            .shared
            .override_level
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(per_second);
        true
    }

    /// Reset the statistics (Locust's "reset stats"): the report from now on holds only what
    /// completes after this call. Users, plan and thresholds are unchanged.
    pub fn reset_stats(&self) {
        self.shared
            .collector
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reset(&self.shared.shards);
    }

    /// The run so far (statistics up to the last whole second), as a partial report.
    pub fn snapshot(&self) -> RunReport {
        self.shared.snapshot(false)
    }

    /// Users alive (closed model) or iterations in flight (open model) right now, of this
    /// generator (not of the whole run when it runs a segment).
    pub fn users(&self) -> u64 {
        self.shared.users_now()
    }

    /// Time since traffic started (zero while waiting for [`RunConfig::start_at`]).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.shared.start)
    }

    /// This generator's part of the run.
    pub fn segment(&self) -> &crate::segment::Stripe {
        &self.shared.segment
    }

    /// Whether the run has been asked to end (or ended by itself).
    pub fn is_stopping(&self) -> bool {
        self.shared.stop.is_cancelled()
    }
}

/// The handle of a started run.
#[derive(Debug)]
pub struct RunHandle {
    control: RunControl,
    join: tokio::task::JoinHandle<RunReport>,
}

impl RunHandle {
    /// A cloneable control for other tasks (signal handlers, live views).
    pub fn control(&self) -> RunControl {
        self.control.clone()
    }

    pub fn stop(&self) {
        self.control.stop();
    }

    pub fn set_users(&self, users: u64) -> bool {
        self.control.set_users(users)
    }

    pub fn set_rate(&self, per_second: f64) -> bool {
        self.control.set_rate(per_second)
    }

    pub fn snapshot(&self) -> RunReport {
        self.control.snapshot()
    }

    /// Wait for the run to end and take its final report.
    pub async fn wait(self) -> Result<RunReport, RunError> {
        let shared = Arc::clone(&self.control.shared);
        match self.join.await {
            Ok(report) => Ok(report),
            Err(e) => {
                // Keep whatever was collected even if the driver failed.
                let mut report = shared.snapshot(true);
                report
                    .verdict
                    .warnings
                    .push(format!("the runner failed: {e}"));
                Err(RunError::Internal(format!(
                    "{e}; partial report: {} requests",
                    report.aggregated.requests
                )))
            }
        }
    }
}

/// The run from start to report.
async fn drive(shared: Arc<Shared>) -> RunReport {
    // A start time ahead (`start_at`): nothing runs, not even the collector, until then.
    tokio::select! {
        _ = tokio::time::sleep_until(shared.start.into()) => {}
        _ = shared.stop.cancelled() => {}
    }
    let collect_stop = CancellationToken::new();
    let collector = tokio::spawn(collect_loop(Arc::clone(&shared), collect_stop.clone()));
    match shared.plan.model {
        PlanModel::Closed => closed::drive(&shared).await,
        PlanModel::Open { max_concurrency } => open::drive(&shared, max_concurrency).await,
    }
    collect_stop.cancel();
    let last_tick = collector.await.unwrap_or(shared.start);
    collect_once(&shared, last_tick, true);
    shared.snapshot(shared.interrupted.load(Ordering::SeqCst))
}

fn collect_once(shared: &Shared, last_tick: Instant, last: bool) -> Instant {
    let now = Instant::now();
    let dropped = shared
        .plan
        .is_open()
        .then(|| shared.dropped.swap(0, Ordering::Relaxed));
    let cx = IntervalContext {
        elapsed: now - shared.start,
        length: now - last_tick,
        unix_time: chrono::Utc::now().timestamp().max(0) as u64,
        users: shared.users_now(),
        dropped,
        last,
    };
    let mut c = shared.collector.lock().unwrap_or_else(|p| p.into_inner());
    shared
        .rows
        .with(|rows| c.collect(&shared.shards, rows, cx, shared.plan.is_open()));
    now
}

/// Once a second, drain the shards into a timeline sample. Returns the last tick's time.
async fn collect_loop(shared: Arc<Shared>, stop: CancellationToken) -> Instant {
    let second = Duration::from_secs(1);
    let mut ticker = tokio::time::interval_at((shared.start + second).into(), second);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = shared.start;
    loop {
        tokio::select! {
            _ = ticker.tick() => last = collect_once(&shared, last, false),
            _ = stop.cancelled() => return last,
        }
    }
}
