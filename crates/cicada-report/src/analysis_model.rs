//! The analysis section of a run report: resource use, scraped target metrics, ranked bottleneck
//! findings, the generator-health verdict, capacity search results with the Universal
//! Scalability Law fit, and auto-scaling checks.
//!
//! Everything here is plain data, filled by `cicada-analysis` and rendered by this crate like
//! the rest of [`RunReport`](crate::RunReport). Same units as [`crate::model`]: durations end in
//! `_ms` or `_s`, ratios are fractions in `0.0..=1.0`, CPU is in percent (100 = one core for
//! `cpu_core_pct`, 100 = all the cores the process may use for `cpu_available_pct`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Everything the analysis added to one run. Every part is optional: a run without a known
/// target PID has no target series, a run without `--scrape` no scraped metrics, and so on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analysis {
    /// CPU and memory sampled once a second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSeries>,
    /// The target's Prometheus metrics (`--scrape URL`) as time series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scraped: Option<ScrapedMetrics>,
    /// Whether the load generator kept up; when not, the results understate the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_health: Option<GeneratorHealth>,
    /// Bottleneck findings, most important first.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// `cicada capacity`: the stepped search and the USL fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityResult>,
    /// `--scaling-probe`: the auto-scaling timeline and checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingReport>,
}

/// A span of the run, in seconds since the start of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimeWindow {
    pub start_s: f64,
    pub end_s: f64,
}

impl TimeWindow {
    pub fn new(start_s: f64, end_s: f64) -> Self {
        Self { start_s, end_s }
    }

    /// Length of the window in seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

/// Resource series of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceSeries {
    /// The load generator (cicada itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<ProcessSeries>,
    /// The system under test, when its PID is known (managed target or `--target-pid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ProcessSeries>,
    /// Whole-machine CPU use.
    #[serde(default)]
    pub system: Vec<SystemCpuSample>,
}

/// One process sampled over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessSeries {
    /// `"generator"`, `"target"` or a user-given label.
    pub label: String,
    pub pid: u32,
    /// How many cores the process may use (CPU affinity / cgroup quota), as a number of cores.
    pub cores_available: f64,
    pub samples: Vec<ProcessSample>,
    /// Set when the process disappeared during the run (exit, crash): when, and why sampling stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// `true` when the samples are of the process's whole tree (it and every descendant,
    /// CPU summed including children that exited, RSS summed); `false` for the one PID.
    #[serde(default)]
    pub tree: bool,
    /// What limits the cores the process may use (affinity, cgroup quota), when it was read.
    /// `cores_available` is its `cores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<CpuLimit>,
    /// Processes of the tree that exited and came back (a new process of the same name) during
    /// the run: a supervisor or a shell loop restarting the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<ProcessRestart>,
}

impl ProcessSeries {
    /// Mean and peak CPU over the samples, as % of the cores the process may use.
    pub fn cpu_mean_peak(&self) -> Option<(f64, f64)> {
        if self.samples.is_empty() {
            return None;
        }
        let n = self.samples.len() as f64;
        let mean = self
            .samples
            .iter()
            .map(|s| s.cpu_available_pct)
            .sum::<f64>()
            / n;
        let peak = self
            .samples
            .iter()
            .map(|s| s.cpu_available_pct)
            .fold(0.0f64, f64::max);
        Some((mean, peak))
    }

    /// `1 core allowed (affinity 0) — used 98 % of it at peak, 71 % on average`: the CPU limit
    /// and how much of it the process used (the terminal summary and the HTML report say it
    /// alike).
    pub fn cpu_limit_line(&self) -> String {
        let limit = match &self.cpu_limit {
            Some(l) => l.describe(),
            None => {
                let s = format!("{:.2}", self.cores_available);
                format!("{} cores", s.trim_end_matches('0').trim_end_matches('.'))
            }
        };
        match self.cpu_mean_peak() {
            Some((mean, peak)) => {
                format!("{limit} — used {peak:.0} % of it at peak, {mean:.0} % on average")
            }
            None => format!("{limit} — not sampled"),
        }
    }
}

/// The CPU a process may use, and what sets it: the smaller of its CPU affinity and its cgroup's
/// CPU quota (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), else the
/// machine's CPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CpuLimit {
    /// Cores the process may use (the smaller limit).
    pub cores: f64,
    /// Which limit that is.
    pub source: CpuLimitSource,
    /// CPUs online on the machine.
    pub machine_cpus: u32,
    /// The CPUs the affinity mask allows, as the kernel lists them (`0`, `0-3,6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// How many CPUs the affinity mask allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_cpus: Option<u32>,
    /// The cgroup CPU quota in cores (quota / period), when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_quota_cores: Option<f64>,
    /// The cgroup file the quota was read from (e.g. `/sys/fs/cgroup/app.slice/cpu.max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_file: Option<String>,
}

/// Which limit sets [`CpuLimit::cores`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CpuLimitSource {
    /// Nothing smaller than the machine: every online CPU.
    Machine,
    /// The CPU affinity mask (`taskset`, `cpuset`).
    Affinity,
    /// The cgroup's CPU quota (`docker --cpus`, Kubernetes `limits.cpu`, systemd `CPUQuota`).
    CgroupQuota,
}

impl CpuLimit {
    /// `1 core allowed (affinity 0)`, `1.5 cores allowed (cgroup quota)`, `2 cores (the whole
    /// machine)`.
    pub fn describe(&self) -> String {
        let cores = if (self.cores - 1.0).abs() < 1e-9 {
            "1 core".to_owned()
        } else {
            let s = format!("{:.2}", self.cores);
            format!("{} cores", s.trim_end_matches('0').trim_end_matches('.'))
        };
        match self.source {
            CpuLimitSource::Machine => format!("{cores} (the whole machine)"),
            CpuLimitSource::Affinity => format!(
                "{cores} allowed (affinity {})",
                self.affinity.as_deref().unwrap_or("?")
            ),
            CpuLimitSource::CgroupQuota => format!("{cores} allowed (cgroup CPU quota)"),
        }
    }
}

/// A process of a sampled tree that exited and was replaced by a new one of the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessRestart {
    /// Seconds since the start of traffic of the last sample that saw the old process.
    pub exited_after_s: f64,
    /// Seconds since the start of traffic of the first sample that saw the new one.
    pub restarted_at_s: f64,
    /// The process name (`comm`).
    pub name: String,
    pub old_pid: u32,
    pub new_pid: u32,
}

/// One sample of a process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessSample {
    /// Seconds since the start of traffic at the time of the sample.
    pub elapsed_s: f64,
    /// CPU used since the previous sample, relative to one core (200 = two cores busy).
    pub cpu_core_pct: f64,
    /// CPU used since the previous sample, relative to the cores the process may use (0..=100).
    pub cpu_available_pct: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// One sample of whole-machine CPU use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SystemCpuSample {
    pub elapsed_s: f64,
    /// Busy share of all CPUs since the previous sample (0..=100).
    pub busy_pct: f64,
    /// Share spent waiting for I/O (0..=100).
    pub iowait_pct: f64,
    /// Share stolen by a hypervisor (0..=100).
    pub steal_pct: f64,
}

// ---------------------------------------------------------------------------------------------
// Scraped metrics
// ---------------------------------------------------------------------------------------------

/// The target's metrics, scraped once a second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScrapedMetrics {
    /// The URL scraped.
    pub url: String,
    /// Successful scrapes.
    pub scrapes: u64,
    /// Failed scrapes (timeout, refused, unparsable), with the last error.
    pub failed_scrapes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// One series per (metric, labels, statistic), sorted by name then labels.
    pub series: Vec<MetricSeries>,
}

/// How a series was derived from the raw metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SeriesStat {
    /// A counter as a per-second rate between successive scrapes (resets handled).
    Rate,
    /// A gauge's value at each scrape.
    Gauge,
    /// A histogram quantile per interval, from bucket deltas (like `histogram_quantile`).
    Quantile { q: f64 },
    /// A histogram's or summary's mean per interval (`Δsum / Δcount`).
    Mean,
    /// A summary's own quantile, as exposed by the target.
    SummaryQuantile { q: f64 },
}

/// One scraped time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricSeries {
    /// Metric family name, e.g. `dryad_pool_acquire_seconds`.
    pub name: String,
    /// Label set (without `le` / `quantile`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub stat: SeriesStat,
    pub points: Vec<SeriesPoint>,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeriesPoint {
    pub elapsed_s: f64,
    pub value: f64,
}

// ---------------------------------------------------------------------------------------------
// Findings and generator health
// ---------------------------------------------------------------------------------------------

/// What kind of bottleneck a finding names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    GeneratorSaturated,
    /// Other processes took the machine's CPU during the run: the results are unreliable.
    NoisyNeighbours,
    /// The target process exited or restarted during the run.
    TargetRestarted,
    TargetCpuBound,
    DatabaseBound,
    /// One endpoint's queries are slow (e.g. a missing index): most of its response time is
    /// spent in the database, many milliseconds per request.
    SlowQuery,
    ConnectionPoolSaturated,
    /// Writes waited for the database's write lock (SQLite's single writer, row locks).
    WriteLockContention,
    /// Requests waited inside the application (a semaphore, worker pool or lock), not in the
    /// database and not for CPU.
    AppQueue,
    QueueGrowth,
    ErrorOnset,
    /// Requests failed from the very first ones, at the lowest load (credentials, a wrong path,
    /// users that never got past `on_start`): not a load problem.
    ErrorsFromStart,
    /// An open-model run reached its `--max-concurrency` cap because the target answered slowly.
    ConcurrencyCapReached,
    MemoryGrowth,
    SlowEndpoint,
    LatencyGrowth,
    /// Nothing limited the run: the busiest resource and how busy it was.
    NoBottleneck,
}

/// How much a finding matters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One ranked bottleneck finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Ranking score (higher first); comparable across kinds only through this number.
    pub score: f64,
    /// One line, e.g. `"Target is CPU-bound"`.
    pub title: String,
    /// One or two sentences on what the numbers show.
    pub summary: String,
    /// The numbers behind the finding.
    pub evidence: Vec<Evidence>,
    /// The part of the run the finding is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// What to do next.
    pub next_step: String,
}

/// One number behind a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// e.g. `"target CPU (mean)"`.
    pub label: String,
    pub value: f64,
    /// `"%"`, `"ms"`, `"/s"`, `"bytes/s"`, `"users"`, ...
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
}

/// The verdict on the load generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeneratorHealth {
    /// True when no interval was affected.
    pub healthy: bool,
    /// One sentence for the summary, e.g. that the results understate the target's capacity.
    pub verdict: String,
    /// Why intervals were marked (one line per cause, with numbers).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// The affected stretches of the run.
    #[serde(default)]
    pub affected: Vec<TimeWindow>,
    /// Seconds (interval ends, `elapsed_s`) that were affected.
    #[serde(default)]
    pub affected_intervals: Vec<u64>,
}

// ---------------------------------------------------------------------------------------------
// Capacity and USL
// ---------------------------------------------------------------------------------------------

/// What the capacity search varied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadUnit {
    /// Concurrent users (closed model).
    Users,
    /// Iterations started per second (open model).
    ArrivalRate,
}

/// One measured step of a capacity search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CapacityStep {
    /// The load held in this step (users or iterations/s).
    pub load: f64,
    /// Seconds discarded at the start of the step as warm-up.
    pub warmup_discarded_s: f64,
    /// Seconds measured after warm-up.
    pub measured_s: f64,
    /// Completed requests per second over the measured part.
    pub throughput: f64,
    pub p95_ms: f64,
    /// Failed / all requests over the measured part.
    pub error_rate: f64,
    /// False when the generator could not keep up in this step (the step is not trusted).
    pub generator_healthy: bool,
    /// True when the step met every SLO.
    pub passed: bool,
    /// One line per violated SLO, e.g. `"p95<200ms: measured 312.4ms"`.
    #[serde(default)]
    pub violations: Vec<String>,
}

/// The outcome of a capacity search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CapacityResult {
    pub load_unit: LoadUnit,
    /// The SLOs as written, e.g. `["p95<200ms", "error_rate<1%"]`.
    pub slos: Vec<String>,
    /// Every step, in the order run.
    pub steps: Vec<CapacityStep>,
    /// The highest load that met every SLO; `None` when even the first step failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_passing_load: Option<f64>,
    /// The lowest load that violated an SLO; `None` when the search hit its ceiling first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_failing_load: Option<f64>,
    /// Why the search stopped.
    pub stop_reason: String,
    /// e.g. `"max users at P95 < 200 ms: 340"`.
    pub headline: String,
    /// The USL fit of throughput vs load, when there were enough points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<UslFit>,
    /// Why there is no USL fit (too few points, degenerate data), when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl_error: Option<String>,
}

/// A Universal Scalability Law fit: `X(N) = λN / (1 + σ(N−1) + κN(N−1))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UslFit {
    /// Contention (serial fraction), `σ ≥ 0`.
    pub sigma: f64,
    /// Coherency (crosstalk), `κ ≥ 0`.
    pub kappa: f64,
    /// Throughput of one unit of concurrency.
    pub lambda: f64,
    /// `N* = √((1−σ)/κ)`: the concurrency of peak throughput; `None` when `κ = 0` (no peak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_concurrency: Option<f64>,
    /// `X(N*)`, or the asymptote `λ/σ` when `κ = 0` (`None` when both are 0: linear scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_max_throughput: Option<f64>,
    /// Coefficient of determination of the fit on the measured points.
    pub r_squared: f64,
    /// Measured and fitted throughput at each point, ascending in concurrency.
    pub points: Vec<UslPoint>,
}

/// One point of a USL fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UslPoint {
    pub concurrency: f64,
    pub measured: f64,
    pub fitted: f64,
}

// ---------------------------------------------------------------------------------------------
// Auto-scaling
// ---------------------------------------------------------------------------------------------

/// The auto-scaling section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScalingReport {
    /// The probe, described, e.g. `"command: kubectl get hpa dryad -o jsonpath=..."`.
    pub probe: String,
    /// Users, replicas and P95 on one timeline.
    pub timeline: Vec<ScalingPoint>,
    /// Failed probe readings.
    pub probe_failures: u64,
    pub checks: Vec<ScalingCheck>,
    /// True when every check passed.
    pub passed: bool,
}

/// One second of the scaling timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScalingPoint {
    pub elapsed_s: f64,
    /// Users or arrival rate.
    pub load: f64,
    /// The probe's reading; `None` when the probe failed this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<f64>,
    pub p95_ms: f64,
    pub errors: u64,
}

/// One named auto-scaling check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScalingCheck {
    /// e.g. `"scale_out_reaction"`.
    pub name: String,
    pub passed: bool,
    /// The measured value in `unit`, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// The configured limit in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// `"s"`, `"changes"`, `"errors"`, ...
    pub unit: String,
    /// Why it passed or failed, in one sentence with numbers.
    pub reason: String,
    /// True when the run gave the check nothing to judge (e.g. the load never dropped, so
    /// scale-in could not be seen); a skipped check counts as passed.
    #[serde(default)]
    pub skipped: bool,
}
