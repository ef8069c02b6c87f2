//! The run report: everything one load test measured, as plain data.
//!
//! This is the single source of truth for every output format. The engine (`cicada`) fills a
//! [`RunReport`] at the end of a run (and on Ctrl-C); the renderers in this crate turn it into
//! JSON, HTML, CSV and JUnit; `cicada report` re-renders any format from a saved JSON file.
//!
//! Units: every duration field ends in `_ms` and is milliseconds as `f64` (µs precision, since the
//! histograms record microseconds); times of day are RFC 3339 strings in UTC; rates are per second;
//! ratios (`failure_ratio`) are fractions in `0.0..=1.0`, never percentages.
//!
//! Compatibility: field names are stable. New data is added as new fields (optional ones with
//! `#[serde(default)]`), never by renaming; a breaking change bumps [`SCHEMA_VERSION`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the JSON layout. Bumped only on a breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// Methods of the rows a scenario's flow steps record (`group`, `until`, `foreach`, and Rust
/// custom steps with their custom timings and failures, `CUSTOM`): each times a sequence of
/// requests that have rows of their own, or something that is not a request, so these rows are
/// left out of the aggregated row, of unscoped thresholds and of findings about endpoints.
pub const FLOW_METHODS: [&str; 4] = ["GROUP", "UNTIL", "FOREACH", "CUSTOM"];

/// Whether a row with this method is a flow step's row (see [`FLOW_METHODS`]).
pub fn is_flow_method(method: &str) -> bool {
    FLOW_METHODS.contains(&method)
}

/// One load test's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Which tool and version produced the report.
    pub tool: ToolInfo,
    /// What was run, against what, when, and on which machine.
    pub run: RunInfo,
    /// The pass / fail decision and why.
    pub verdict: Verdict,
    /// One row per (user type, request name, method), sorted by name then method.
    pub requests: Vec<RequestStats>,
    /// All requests together (Locust's "Aggregated" row): the run's headline numbers.
    pub aggregated: RequestStats,
    /// One sample per elapsed second of the run.
    pub timeline: Vec<IntervalSample>,
    /// Failures grouped by (request, kind, message), most frequent first.
    pub failures: Vec<FailureRow>,
    /// Every threshold evaluated at the end of the run, in the order given.
    pub thresholds: Vec<ThresholdResult>,
    /// Open-model (arrival-rate) scheduling statistics; `None` for a closed-model run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_model: Option<OpenModelStats>,
    /// Resources, scraped metrics, findings, capacity and scaling results (`cicada-analysis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis_model::Analysis>,
    /// Set when this report is the merge of several workers' reports (`cicada merge`): which
    /// reports, and which figures are bounds rather than exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
    /// The virtual users of the run: how many were spawned and how many never got past
    /// `on_start` (so never ran a task). `None` in reports written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<UserStarts>,
}

/// How many users the run spawned and how many never started their tasks because their
/// `on_start` never succeeded (e.g. every login answered 401).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserStarts {
    /// Virtual users created (closed model: users spawned; open model: the users of the pool
    /// that carried the iterations).
    pub spawned: u64,
    /// Of those, users whose `on_start` never succeeded: they ran no task.
    pub never_started: u64,
    /// The `on_start` request that failed most often, with its most frequent failure group
    /// (status, message and the first bytes of the response body). `None` when no `on_start`
    /// request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_request: Option<FailureRow>,
}

impl UserStarts {
    /// The line every front end puts first when users never started, e.g.
    /// `40 of 40 users never started their tasks: on_start failed at POST /api/v1/auth/login
    /// with HTTP 401 {"error":"invalid credentials"}`. `None` when every user started.
    pub fn headline(&self) -> Option<String> {
        if self.never_started == 0 {
            return None;
        }
        let mut line = format!(
            "{} of {} user{} never started {} tasks",
            self.never_started,
            self.spawned,
            if self.spawned == 1 { "" } else { "s" },
            if self.never_started == 1 {
                "its"
            } else {
                "their"
            },
        );
        if let Some(f) = &self.failed_request {
            line.push_str(&format!(
                ": on_start failed at {} with {}",
                f.request(),
                f.message
            ));
            if let Some(excerpt) = f.body_excerpt.as_deref().map(one_line)
                && !excerpt.is_empty()
            {
                line.push(' ');
                line.push_str(&excerpt);
            }
        }
        Some(line)
    }
}

/// How a merged report was made (`cicada merge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MergeInfo {
    /// How many reports were merged.
    pub reports: u64,
    /// The merged reports, in the order given.
    pub workers: Vec<MergedWorker>,
    /// Figures of the merged report that are not exact, each with what it is instead (e.g. an
    /// upper bound). Empty when every figure is exact.
    #[serde(default)]
    pub approximations: Vec<String>,
    /// How the workers' execution segments add up, e.g. `"0:1/3 + 1/3:2/3 + 2/3:1 = the whole
    /// run (0:1)"`; absent when no worker ran a segment. Gaps and overlaps are warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<String>,
}

/// One of the reports a merged report was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MergedWorker {
    /// The file it was read from, as given.
    pub source: String,
    /// The generating machine's host name (a Kubernetes pod's name).
    pub hostname: String,
    pub started_at: String,
    pub ended_at: String,
    pub seed: u64,
    pub requests: u64,
    pub failures: u64,
    /// The worker's own verdict on its share of the load.
    pub passed: bool,
    /// True when that worker's run was interrupted.
    pub interrupted: bool,
    /// The worker's execution segment (`run.segment`), when it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// A live distributed run (`cicada run --master`): the worker's number (from 0), its
    /// state and last readings. Absent in reports merged from files (`cicada merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveWorker>,
}

/// A worker of a distributed run as the coordinator last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LiveWorker {
    /// The worker's number, from 0 (`Stripe::nth(index, count)` is its part of the run).
    pub index: u64,
    pub pid: u32,
    pub status: WorkerStatus,
    /// Second of the run (from the common start) of the last message from it.
    pub last_seen_s: f64,
    /// Users alive (closed model) or iterations in flight (open model) at its last message.
    pub users: u64,
    /// Its requests per second in its last whole second.
    pub current_rps: f64,
    /// CPU of the worker process over its last second, in % of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    /// Resident memory of the worker process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// Heartbeat round trip to it, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Its wall clock minus the coordinator's, estimated from the heartbeat (half the round
    /// trip assumed each way), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_ms: Option<f64>,
}

/// Where a worker of a distributed run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Attached, told to start, no data yet.
    Starting,
    /// Sending its data every second.
    Live,
    /// Finished its part and sent its final report.
    Done,
    /// Nothing heard within the heartbeat timeout, or its connection broke: its data up to
    /// `last_seen_s` is kept.
    Lost,
    /// It could not start its part (its message is in the run's failure).
    Failed,
}

/// The tool that produced a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    /// `"cicada"`.
    pub name: String,
    /// The crate version, e.g. `"0.1.0"`.
    pub version: String,
}

/// What was run, against what, when, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunInfo {
    /// Scenario name (from the file's `name`, else the file stem).
    pub scenario: String,
    /// Path of the scenario file as given, if the scenario came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<String>,
    /// Base URL of the target, e.g. `http://127.0.0.1:8000`.
    pub host: String,
    /// The load plan as run.
    pub plan: PlanInfo,
    /// Wall-clock start of traffic (RFC 3339, UTC).
    pub started_at: String,
    /// Wall-clock end of the run (RFC 3339, UTC).
    pub ended_at: String,
    /// Seconds from the start of traffic to the end of the run.
    pub duration_s: f64,
    /// True when the run was stopped early (Ctrl-C / SIGTERM / stop request): results are partial.
    pub interrupted: bool,
    /// Seed of the run's random number generators (weights, waits, generators, random feeders).
    pub seed: u64,
    /// The execution segment this generator ran of a run split across several, e.g.
    /// `"1/3:2/3"` (`--execution-segment`); absent for a whole run. A merge of reports whose
    /// segments tile `0:1` is the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// `-T/--tags` in effect (empty: all tasks).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `-E/--exclude-tags` in effect.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// User types with their weights and how many users of each were started at peak.
    #[serde(default)]
    pub user_types: Vec<UserTypeInfo>,
    /// The machine that generated the load.
    pub machine: MachineInfo,
}

/// One user type as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserTypeInfo {
    pub name: String,
    pub weight: u32,
    /// Users of this type alive at the peak of the run.
    pub peak_users: u64,
}

/// The load plan, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanInfo {
    /// `"closed"` (simulated users loop) or `"open"` (iterations started at an arrival rate).
    pub model: LoadModel,
    /// A one-line human description, e.g. `"1000 users, spawn rate 50/s, 10m"`.
    pub description: String,
    /// True when latencies are timed from each iteration's *intended* start (open model), so
    /// coordinated omission cannot hide a stall. False for the closed model: a stalled server
    /// there slows the users down and the stall shows mostly as fewer requests.
    pub co_corrected: bool,
    /// Planned run time in seconds (ramp included); `None` when bounded only by iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_time_s: Option<f64>,
    /// Iteration bound, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// The steps of the plan: each holds for `duration_s`, moving linearly to `target`
    /// (users for the closed model, iterations/s for the open model).
    pub stages: Vec<StageInfo>,
    /// Closed model: the spawn rate in users per second, if given as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_rate: Option<f64>,
    /// Open model: cap on concurrent iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u64>,
}

/// Closed (users) or open (arrival rate) load model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    Closed,
    Open,
}

/// One step of a load plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageInfo {
    pub duration_s: f64,
    pub target: f64,
}

/// The generating machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MachineInfo {
    pub hostname: String,
    pub os: String,
    /// Logical CPUs available to the process.
    pub cpus: u32,
    /// Total memory in bytes, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Worker threads the load generator ran on.
    pub worker_threads: u32,
}

/// The decision, made once by the engine (`cicada::verdict::decide`) and only rendered by every
/// front end: the terminal summary, HTML, JSON, JUnit, and `cicada report` re-rendering it.
///
/// The rule (as Locust's `--exit-code-on-error`): the run fails when a threshold fails (exit
/// code 1), or when a request failed that no error threshold (`error_rate` or `failures` whose
/// scope covers its row) allows — then with [`Verdict::exit_code_on_error`] (1 unless changed;
/// 0 lets such failures pass the run, and the reason says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// True when the run passed: every threshold passed and no request failed that no error
    /// threshold allows (or `exit_code_on_error` is 0).
    pub passed: bool,
    /// One line per failed threshold, e.g. `"p95 < 200ms: measured 312.4ms"`.
    #[serde(default)]
    pub failed: Vec<String>,
    /// Things that make the numbers less trustworthy without failing the run, e.g. an
    /// interrupted run or an overloaded generator.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Why the run passed or failed, in one line; every front end shows this same text.
    /// Empty in reports written before it was recorded (see [`Verdict::reason_text`]).
    #[serde(default)]
    pub reason: String,
    /// The exit code of this verdict: 0 passed, 1 a threshold failed, else
    /// `exit_code_on_error` when requests failed that no error threshold allows. (An
    /// interrupted run still exits 130 and an unwritten report 4.) `None` in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// Failed requests that no error threshold allows (what `exit_code_on_error` judges).
    #[serde(default)]
    pub unallowed_failures: u64,
    /// The `--exit-code-on-error` in effect (`[defaults] exit_code_on_error`); default 1.
    #[serde(default = "default_exit_code_on_error")]
    pub exit_code_on_error: u8,
}

/// Locust's default `--exit-code-on-error`.
pub const DEFAULT_EXIT_CODE_ON_ERROR: u8 = 1;

fn default_exit_code_on_error() -> u8 {
    DEFAULT_EXIT_CODE_ON_ERROR
}

/// An empty verdict that passed (for building reports field by field; the engine's comes from
/// `cicada::verdict::decide`).
impl Default for Verdict {
    fn default() -> Self {
        Self {
            passed: true,
            failed: Vec::new(),
            warnings: Vec::new(),
            reason: String::new(),
            exit_code: None,
            unallowed_failures: 0,
            exit_code_on_error: DEFAULT_EXIT_CODE_ON_ERROR,
        }
    }
}

impl Verdict {
    /// The exit code of the verdict (older reports: 0 passed, 1 failed).
    pub fn exit_code(&self) -> u8 {
        self.exit_code.unwrap_or(u8::from(!self.passed))
    }

    /// `"PASSED"` or `"FAILED"`.
    pub fn label(&self) -> &'static str {
        if self.passed { "PASSED" } else { "FAILED" }
    }

    /// The reason line; for reports written before it was recorded, the failed thresholds.
    pub fn reason_text(&self) -> String {
        if !self.reason.is_empty() {
            self.reason.clone()
        } else if self.passed {
            "no threshold failed".to_string()
        } else {
            format!("{} threshold(s) failed", self.failed.len())
        }
    }
}

/// Latency percentiles in milliseconds: Locust's columns (50 … 100 %).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Percentiles {
    pub p50: f64,
    pub p66: f64,
    pub p75: f64,
    pub p80: f64,
    pub p90: f64,
    pub p95: f64,
    pub p98: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub p100: f64,
}

/// Statistics of one request row (or of all requests: the aggregated row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestStats {
    /// User type the row belongs to; `None` for rows merged across user types (aggregated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// HTTP method, e.g. `"GET"`; empty for the aggregated row.
    pub method: String,
    /// Stats name: the request's `name`, else its path template; `"Aggregated"` for the total.
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    /// `failures / requests` (0 with no requests).
    pub failure_ratio: f64,
    /// The latency fields (`min_ms`, `max_ms`, `mean_ms`, `percentiles`) are left out of the
    /// JSON when the row measured no latency (no request of it was sent, e.g. a task that never
    /// ran because `on_start` failed): a missing field means "not measured", never 0 ms. Read
    /// back, they are 0; [`RequestStats::measured`] tells them apart.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_ms: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ms: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mean_ms: f64,
    #[serde(default, skip_serializing_if = "Percentiles::is_unmeasured")]
    pub percentiles: Percentiles,
    /// Mean response body size in bytes.
    pub avg_size_bytes: f64,
    /// Total response body bytes received.
    pub total_bytes: u64,
    /// Requests per second over the whole run.
    pub rps: f64,
    /// Failures per second over the whole run.
    pub failures_per_s: f64,
    /// Requests per second over the last complete interval ("current RPS").
    pub current_rps: f64,
    /// Failures per second over the last complete interval.
    pub current_failures_per_s: f64,
    /// Mean TCP (+TLS) connect time of the connections this row opened; `None` if it opened none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_mean_ms: Option<f64>,
    /// Mean time to first response byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_mean_ms: Option<f64>,
    /// Points of the response-time distribution curve (percentile → latency), ascending in
    /// percentile, for the log-axis distribution chart.
    #[serde(default)]
    pub distribution: Vec<DistributionPoint>,
    /// The full latency histogram: base64 of the HdrHistogram V2 (deflate) serialization,
    /// microseconds, 3 significant digits. Lets reports merge and compare exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    /// What the target reported of its own time in `Server-Timing` headers (`db`, `pool`,
    /// `app`); `None` when no response of this row reported `db` or `pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timing: Option<ServerTimingStats>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Percentiles {
    /// All zero: no latency was recorded (a recorded latency is at least 1 µs).
    pub fn is_unmeasured(&self) -> bool {
        *self == Self::default()
    }
}

impl RequestStats {
    /// Whether the row measured any latency. A row with no request sent (or only requests
    /// that could not be sent) did not: its latency figures are 0 and mean "not measured";
    /// renderers show "—" for them.
    pub fn measured(&self) -> bool {
        self.max_ms > 0.0
    }
}

/// The target's own account of its time, from the `db`, `pool` and `app` entries of its
/// `Server-Timing` response headers (dryad: `pool;dur=0.01, db;dur=1.2, app;dur=0.3`).
///
/// Every figure is over the responses that reported `db` or `pool` (`responses`); an entry a
/// response left out counts as 0 for it. Sums are kept so that rows, seconds and runs add up
/// exactly; shares and means are derived from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerTimingStats {
    /// Responses that reported `db` or `pool`.
    pub responses: u64,
    /// Sum of those responses' response times as cicada measured them.
    pub response_ms: f64,
    /// Sum of their `db` durations (time in the database).
    pub db_ms: f64,
    /// Sum of their `pool` durations (time waiting for a database connection).
    pub pool_ms: f64,
    /// Sum of their `app` durations.
    pub app_ms: f64,
    /// `db_ms / response_ms`: the share of response time spent in the database, `0.0..=1.0`
    /// (capped at 1 when the server's clock says more than cicada measured).
    pub db_share: f64,
    /// `pool_ms / response_ms`: the share of response time spent waiting for a connection.
    pub pool_share: f64,
    /// Mean `db` duration per response.
    pub db_mean_ms: f64,
    /// Mean `pool` wait per response.
    pub pool_wait_mean_ms: f64,
    /// Mean `app` duration per response.
    pub app_mean_ms: f64,
}

impl ServerTimingStats {
    /// Build from integer sums in µs; `None` when no response reported anything.
    pub fn from_sums_us(
        responses: u64,
        response_us: u64,
        db_us: u64,
        pool_us: u64,
        app_us: u64,
    ) -> Option<Self> {
        if responses == 0 {
            return None;
        }
        let share = |part: u64| {
            if response_us == 0 {
                0.0
            } else {
                (part as f64 / response_us as f64).min(1.0)
            }
        };
        let mean = |sum: u64| sum as f64 / responses as f64 / 1000.0;
        Some(Self {
            responses,
            response_ms: response_us as f64 / 1000.0,
            db_ms: db_us as f64 / 1000.0,
            pool_ms: pool_us as f64 / 1000.0,
            app_ms: app_us as f64 / 1000.0,
            db_share: share(db_us),
            pool_share: share(pool_us),
            db_mean_ms: mean(db_us),
            pool_wait_mean_ms: mean(pool_us),
            app_mean_ms: mean(app_us),
        })
    }
}

/// One point of a percentile curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DistributionPoint {
    /// Percentile in `0.0..=100.0`.
    pub percentile: f64,
    pub ms: f64,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntervalSample {
    /// Whole seconds since the start of traffic at the *end* of this interval.
    pub elapsed_s: u64,
    /// Unix time in seconds at the end of this interval.
    pub unix_time: u64,
    /// Users alive (closed model) or iterations in flight (open model) at the end of the interval.
    pub users: u64,
    /// Requests completed in this interval.
    pub requests: u64,
    /// Failures in this interval.
    pub failures: u64,
    pub rps: f64,
    pub failures_per_s: f64,
    /// Percentiles of the requests completed in this interval (zeros when there were none).
    pub percentiles: Percentiles,
    pub mean_ms: f64,
    /// Cumulative requests since the start of traffic.
    pub total_requests: u64,
    /// Cumulative failures since the start of traffic.
    pub total_failures: u64,
    /// Per request-row figures of this interval.
    #[serde(default)]
    pub by_request: Vec<IntervalRequestSample>,
    /// Open model: iterations that started late in this interval (schedule lag over 1 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_iterations: Option<u64>,
    /// Open model: iterations dropped in this interval (concurrency cap reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_iterations: Option<u64>,
    /// Open model: p99 schedule lag of iterations started in this interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_p99_ms: Option<f64>,
    /// All requests since the start of traffic, as of the end of this interval (what Locust's
    /// `_stats_history.csv` "Total …" and percentile columns hold). `None` when not recorded;
    /// the CSV then writes the interval's own percentiles and `N/A` where it cannot be exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative: Option<CumulativeSample>,
    /// `Server-Timing` figures of the responses completed in this interval (all rows); `None`
    /// when none reported `db` or `pool`. `db_share` per second is the database share series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timing: Option<ServerTimingStats>,
    /// The latency histogram of the requests completed in this interval (all rows), encoded like
    /// [`RequestStats::histogram`]; lets merged reports compute per-second percentiles exactly.
    /// `None` with no requests in the interval, and in reports written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

/// Cumulative statistics of all requests from the start of traffic to the end of an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CumulativeSample {
    pub percentiles: Percentiles,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub avg_size_bytes: f64,
}

/// One request row within one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntervalRequestSample {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Why a request failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The response status was not the expected one.
    Status,
    /// Connect or request timeout.
    Timeout,
    /// Connection refused / reset / closed before a response.
    Connection,
    /// A response check (JSON pointer, body contains, ...) failed.
    Check,
    /// The response was not valid HTTP, or a capture could not be taken.
    Protocol,
    /// Anything else (TLS, template rendering at run time, ...).
    Other,
}

/// One group of identical failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailureRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    pub method: String,
    pub name: String,
    pub kind: FailureKind,
    /// e.g. `"HTTP 503"`, `"request timed out after 5s"`, `"check failed: /status == \"ok\""`.
    pub message: String,
    pub occurrences: u64,
    /// The first bytes of the response body of the group's first failure (at most
    /// [`BODY_EXCERPT_LEN`] bytes, cut at a character boundary, invalid UTF-8 replaced), e.g.
    /// `{"error":"invalid credentials"}`. `None` when no response arrived (timeouts, refused
    /// connections) and in reports written before it was recorded; empty for an empty body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
}

/// Bytes of a response body a failure group keeps ([`FailureRow::body_excerpt`]).
pub const BODY_EXCERPT_LEN: usize = 200;

impl FailureRow {
    /// `"POST /api/v1/auth/login"` (the name alone when it already starts with the method).
    pub fn request(&self) -> String {
        if self.method.is_empty() || self.name.starts_with(&self.method) {
            self.name.clone()
        } else {
            format!("{} {}", self.method, self.name)
        }
    }
}

/// A response body excerpt on one line: control characters and runs of whitespace (a
/// pretty-printed JSON body, an HTML page) become one space, so it cannot break a terminal
/// line, a table, an XML attribute or a log; no other character is dropped.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// A body excerpt as a report keeps it: at most [`BODY_EXCERPT_LEN`] bytes, invalid UTF-8
/// replaced, a character cut by the limit dropped, trailing whitespace trimmed.
pub fn body_excerpt(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(BODY_EXCERPT_LEN)];
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        // A character cut at the end by the limit is dropped, not replaced.
        Err(e) if e.error_len().is_none() => {
            std::borrow::Cow::Borrowed(std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""))
        }
        Err(_) => String::from_utf8_lossy(bytes),
    };
    text.trim_end().to_string()
}

/// One threshold and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdResult {
    /// As written, e.g. `"p95<200ms"` or `"GET /agents/{{id}}/metrics: p99<500ms"`.
    pub expression: String,
    /// The request row it applies to (`"METHOD name"` or `"name"`); `None`: all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Metric name: `p50`, `p95`, `p99`, `p99.9`, `mean`, `max`, `error_rate`, `rps`, ...
    pub metric: String,
    /// Comparison operator: `<`, `<=`, `>`, `>=`.
    pub op: String,
    /// The limit in the metric's unit (`unit`).
    pub limit: f64,
    /// The measured value in the same unit; `None` when there was no data (then it fails).
    pub observed: Option<f64>,
    /// `"ms"`, `"%"`, `"/s"` or `""`.
    pub unit: String,
    pub passed: bool,
    /// Where it came from: `"cli"` or `"scenario"`.
    pub source: String,
}

/// Open-model scheduling statistics over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpenModelStats {
    /// Iterations the plan scheduled.
    pub scheduled_iterations: u64,
    /// Iterations actually started.
    pub started_iterations: u64,
    /// Iterations that started more than 1 ms after their intended start.
    pub late_iterations: u64,
    /// Iterations not started because the concurrency cap was reached.
    pub dropped_iterations: u64,
    pub schedule_lag_p50_ms: f64,
    pub schedule_lag_p99_ms: f64,
    pub schedule_lag_max_ms: f64,
    /// Highest number of iterations in flight at once.
    pub peak_concurrency: u64,
}

impl RunReport {
    /// Serialise as pretty JSON (the `--json` format).
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).expect("RunReport serialises")
    }

    /// Parse a report written by [`RunReport::to_json_pretty`] (any whitespace).
    pub fn from_json(text: &str) -> Result<Self, ReportParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(ReportParseError::Json)?;
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        match version {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {
                serde_json::from_value(value).map_err(ReportParseError::Json)
            }
            Some(v) => Err(ReportParseError::Version(v)),
            None => Err(ReportParseError::NotAReport),
        }
    }
}

/// Why a JSON file could not be read as a run report.
#[derive(Debug, thiserror::Error)]
pub enum ReportParseError {
    #[error("not valid report JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error(
        "report schema_version {0} is not supported by this cicada (it reads version {SCHEMA_VERSION})"
    )]
    Version(u64),
    #[error("not a cicada run report (no schema_version field)")]
    NotAReport,
}
