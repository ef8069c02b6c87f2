//! Ranked bottleneck findings from a finished run: the [`RunReport`], the resource series and
//! the scraped metric series. Each rule looks for one bottleneck and, when it sees it, states
//! the evidence (numbers and the time window) and a next step. [`analyze`] runs every rule and
//! ranks what they found; it also gives the generator-health verdict.
//!
//! Rules: generator saturation ([`generator`]), target restarted ([`restart`]), target CPU-bound ([`cpu`]), database-bound and
//! connection-pool saturation ([`database`]), queue growth ([`queue`]), error onset
//! ([`errors`]), memory growth ([`memory`]), a slow query on one endpoint ([`slow_query`]),
//! slowest endpoints and latency growth with load ([`endpoints`]).

pub mod app;
pub mod cap;
pub mod cpu;
pub mod database;
pub mod endpoints;
pub mod errors;
pub mod from_start;
pub mod generator;
pub mod lock;
pub mod memory;
pub mod neighbours;
pub mod policy;
pub mod queue;
pub mod quiet;
pub mod restart;
pub mod severity;
pub mod slow_query;
pub mod timeline;

#[cfg(test)]
mod e2e_cpu;
#[cfg(test)]
pub(crate) mod test_support;

use cicada_report::analysis_model::{
    Finding, GeneratorHealth, MetricSeries, ResourceSeries, ScrapedMetrics, SeriesPoint, SeriesStat,
};
use cicada_report::model::RunReport;

use crate::prom::{MetricSelector, PatternError};

/// Names (glob or `/regex/` patterns) of the target's metrics the rules read. `None` (built
/// from no patterns) turns the rules that need that metric off.
#[derive(Debug, Clone)]
pub struct MetricNames {
    /// Gauges of queued work, e.g. `dryad_queue_depth`.
    pub queue_depth: Option<MetricSelector>,
    /// Histograms of the time spent waiting for a database connection, e.g.
    /// `dryad_db_pool_acquire_seconds` (seconds, as Prometheus convention has it).
    pub pool_acquire_wait: Option<MetricSelector>,
    /// Gauges of connections in use. A series with a `state` label counts only when the state
    /// is `in_use`, `busy`, `active` or `used` (so `pool_connections{state="idle"}` does not).
    pub pool_in_use: Option<MetricSelector>,
    /// Gauges of the pool's maximum size.
    pub pool_max: Option<MetricSelector>,
    /// Histograms of the time writes waited for the database's write lock, e.g. dryad's
    /// `dryad_db_write_wait_seconds` (SQLite's single writer).
    pub write_wait: Option<MetricSelector>,
}

fn selector(patterns: &[&str]) -> Result<Option<MetricSelector>, PatternError> {
    if patterns.is_empty() {
        Ok(None)
    } else {
        MetricSelector::new(patterns).map(Some)
    }
}

impl MetricNames {
    /// Build from patterns; an empty list turns that metric off.
    pub fn new(
        queue_depth: &[&str],
        pool_acquire_wait: &[&str],
        pool_in_use: &[&str],
        pool_max: &[&str],
    ) -> Result<Self, PatternError> {
        Ok(Self {
            queue_depth: selector(queue_depth)?,
            pool_acquire_wait: selector(pool_acquire_wait)?,
            pool_in_use: selector(pool_in_use)?,
            pool_max: selector(pool_max)?,
            write_wait: None,
        })
    }

    /// With the write-lock wait histograms named by `patterns` (empty: off).
    pub fn with_write_wait(mut self, patterns: &[&str]) -> Result<Self, PatternError> {
        self.write_wait = selector(patterns)?;
        Ok(self)
    }
}

impl Default for MetricNames {
    fn default() -> Self {
        // Matches dryad's names (`dryad_queue_depth`, `dryad_db_pool_acquire_wait_seconds`,
        // `dryad_db_pool_connections{state="in_use"}`, `dryad_db_pool_max_connections`) and the
        // common spellings of other services.
        Self::new(
            &["*queue_depth", "*queue_length", "*queue_size"],
            &["*pool_acquire*seconds", "*pool_wait*seconds"],
            &[
                "*pool_in_use",
                "*pool_connections_in_use",
                "*pool_busy",
                "*pool_connections",
            ],
            &[
                "*pool_max",
                "*pool_max_connections",
                "*pool_connections_max",
                "*pool_max_size",
            ],
        )
        .and_then(|m| m.with_write_wait(&["*write_wait*seconds", "*lock_wait*seconds"]))
        .expect("built-in patterns are valid")
    }
}

/// Limits of the rules. The defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct FindingsConfig {
    /// Generator CPU (% of the cores it may use) at or above which it is saturated.
    pub generator_cpu_pct: f64,
    /// Schedule-lag p99 above which an open-model interval is late.
    pub schedule_lag_p99_ms: f64,
    /// One late second alone counts only when its lag p99 is at least this many times
    /// `schedule_lag_p99_ms`: a single marginal second (a scheduler hiccup) is not saturation.
    pub isolated_lag_factor: f64,
    /// Target CPU (% of its cores) at or above which a throughput plateau is CPU-bound.
    pub target_cpu_bound_pct: f64,
    /// Target CPU below which rising latency points away from the CPU.
    pub target_cpu_low_pct: f64,
    /// Latency counts as rising when the late part of the run is this many times the early part.
    pub latency_rise_factor: f64,
    /// Pool wait above which the pool is a bottleneck: the mean per response of a second from
    /// `Server-Timing: pool`, else the p95 (or mean) of a scraped acquire-wait interval.
    pub pool_wait_ms: f64,
    /// A steady phase lasts at least this long.
    pub min_steady_s: f64,
    /// Queue growth through a steady phase below this many items is noise.
    pub queue_growth_min: f64,
    /// RSS growth below this many bytes per minute through a steady phase is noise.
    pub memory_growth_bytes_per_min: f64,
    /// An endpoint taking at least this share of all request time is reported.
    pub slow_share: f64,
    /// Queries (`Server-Timing: db`, mean per request) of at least this many ms on an
    /// endpoint that spends most of its time in them are a slow query (a slow-query log's
    /// limit).
    pub slow_query_ms: f64,
    /// An endpoint whose P95 grows at least this many times from low to high load is reported.
    pub latency_growth_factor: f64,
    pub metrics: MetricNames,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        Self {
            generator_cpu_pct: 90.0,
            schedule_lag_p99_ms: 5.0,
            isolated_lag_factor: 4.0,
            target_cpu_bound_pct: 85.0,
            target_cpu_low_pct: 60.0,
            latency_rise_factor: 1.5,
            pool_wait_ms: 1.0,
            min_steady_s: 10.0,
            queue_growth_min: 10.0,
            memory_growth_bytes_per_min: 5.0 * 1024.0 * 1024.0,
            slow_share: 0.25,
            slow_query_ms: 20.0,
            latency_growth_factor: 2.0,
            metrics: MetricNames::default(),
        }
    }
}

/// What the rules read.
#[derive(Debug, Clone, Copy)]
pub struct FindingsInput<'a> {
    pub report: &'a RunReport,
    pub resources: Option<&'a ResourceSeries>,
    pub scraped: Option<&'a ScrapedMetrics>,
    /// Share (0..=1) of response time the target spent in its database each second, from the
    /// `db` entry of `Server-Timing` headers; empty when unknown.
    pub db_share: &'a [SeriesPoint],
}

impl<'a> FindingsInput<'a> {
    pub fn new(report: &'a RunReport) -> Self {
        Self {
            report,
            resources: None,
            scraped: None,
            db_share: &[],
        }
    }

    /// Scraped series whose name `selector` matches, with the given statistic.
    pub(crate) fn series(
        &self,
        selector: Option<&MetricSelector>,
        stat: impl Fn(&SeriesStat) -> bool,
    ) -> Vec<&'a MetricSeries> {
        let Some(selector) = selector else {
            return Vec::new();
        };
        self.scraped
            .map(|s| {
                s.series
                    .iter()
                    .filter(|m| selector.matches(&m.name) && stat(&m.stat))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The findings, ranked, and the generator verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingsOutcome {
    pub findings: Vec<Finding>,
    pub generator_health: GeneratorHealth,
}

/// Run every rule and rank the findings ([`policy::rank`]): verdicts on the run's trust first,
/// then by severity and score. When nothing is a warning or critical, a "no bottleneck"
/// finding names the busiest resource ([`quiet`]).
pub fn analyze(input: &FindingsInput<'_>, config: &FindingsConfig) -> FindingsOutcome {
    let (generator_health, generator_finding) = generator::assess(input, config);
    let mut findings: Vec<Finding> = generator_finding.into_iter().collect();
    findings.extend(neighbours::noisy_neighbours(input, config));
    findings.extend(restart::target_restarted(input, config));
    findings.extend(cap::concurrency_cap(input, config));
    findings.extend(cpu::target_cpu_bound(input, config));
    findings.extend(database::database_bound(input, config));
    findings.extend(database::pool_saturated(input, config));
    findings.extend(slow_query::slow_query(input, config));
    findings.extend(lock::write_lock(input, config));
    findings.extend(app::app_queue(input, config));
    findings.extend(queue::queue_growth(input, config));
    findings.extend(errors::error_onset(input, config));
    findings.extend(from_start::errors_from_start(input, config));
    findings.extend(memory::memory_growth(input, config));
    findings.extend(endpoints::slowest_endpoints(input, config));
    findings.extend(endpoints::latency_growth(input, config));
    let mut findings = policy::merge_same_kind(findings);
    if let Some(quiet) = quiet::no_bottleneck(input, config, &findings) {
        findings.push(quiet);
    }
    policy::rank(&mut findings);
    FindingsOutcome {
        findings,
        generator_health,
    }
}

/// Format a number for a sentence: no trailing zeros, at most `digits` decimals.
pub(crate) fn num(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// One piece of evidence.
pub(crate) fn ev(
    label: &str,
    value: f64,
    unit: &str,
    window: Option<cicada_report::analysis_model::TimeWindow>,
) -> cicada_report::analysis_model::Evidence {
    cicada_report::analysis_model::Evidence {
        label: label.to_owned(),
        value,
        unit: unit.to_owned(),
        window,
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::{FindingKind, Severity};

    #[test]
    fn a_healthy_run_has_no_findings() {
        let report = ReportBuilder::ramp_and_hold(60, 50.0).build(|_, users| Second {
            rps: users * 10.0,
            p95_ms: 20.0,
            ..Second::default()
        });
        let resources = resources_with_target(60, |_| (40.0, 100 << 20), |_| 30.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let out = analyze(&input, &FindingsConfig::default());
        let kinds: Vec<_> = out.findings.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FindingKind::NoBottleneck], "{:#?}", out.findings);
        assert!(
            out.findings[0]
                .title
                .contains("the busiest resource was the target's CPU (2 cores) at 40 %"),
            "{}",
            out.findings[0].title
        );
        assert!(out.generator_health.healthy);
    }

    /// The healthy run: one endpoint (the argon2 login) takes most of the request
    /// time, P95 a few ms, no errors, no threshold missed. That share is information only.
    #[test]
    fn a_large_share_of_request_time_alone_is_not_a_warning() {
        let report = ReportBuilder::ramp_and_hold(60, 100.0).build(|_, _| Second {
            rps: 1000.0,
            p95_ms: 4.0,
            by_request: vec![("POST /login", 100, 30.0), ("GET /items", 900, 0.5)],
            ..Second::default()
        });
        let resources = resources_with_target(60, |_| (30.0, 100 << 20), |_| 20.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let out = analyze(&input, &FindingsConfig::default());
        assert!(
            out.findings.iter().all(|f| f.severity == Severity::Info),
            "{:#?}",
            out.findings
        );
        let share = out
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::SlowEndpoint)
            .expect("the share is still reported");
        assert!(
            share.title.contains("POST /login takes 87 %"),
            "{}",
            share.title
        );
        assert!(
            share.next_step.starts_with("Nothing to do"),
            "{}",
            share.next_step
        );
        assert_eq!(out.findings.last().unwrap().kind, FindingKind::NoBottleneck);
    }

    /// Every number a rule prints carries its unit.
    #[test]
    fn every_piece_of_evidence_has_a_unit() {
        let report =
            ReportBuilder::steps(&[(20, 10.0), (20, 60.0), (20, 100.0)]).build(|t, u| Second {
                rps: u * 10.0,
                p95_ms: 5.0 * u,
                failures: if t > 40 { 20 } else { 0 },
                by_request: vec![("GET /fast", 900, 5.0), ("GET /search", 100, 5.0 * u)],
                ..Second::default()
            });
        let resources = resources_with_target(
            60,
            |t| (if t > 40 { 97.0 } else { 40.0 }, (100 << 20) + (t << 21)),
            |t| if t > 50 { 95.0 } else { 20.0 },
        );
        let gauges = scraped(vec![series(
            "dryad_queue_depth",
            cicada_report::analysis_model::SeriesStat::Gauge,
            60,
            |t| t as f64 * 5.0,
        )]);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        input.scraped = Some(&gauges);
        let out = analyze(&input, &FindingsConfig::default());
        assert!(out.findings.len() >= 4, "{:#?}", out.findings);
        for f in &out.findings {
            for e in &f.evidence {
                assert!(!e.unit.is_empty(), "{:?}: {} has no unit", f.kind, e.label);
            }
        }
    }

    #[test]
    fn findings_are_ranked_with_the_generator_first() {
        // Generator pegged and errors: both found, generator first.
        let report = ReportBuilder::ramp_and_hold(60, 50.0).build(|t, users| Second {
            rps: users * 10.0,
            p95_ms: 20.0,
            failures: if t > 30 { 50 } else { 0 },
            ..Second::default()
        });
        let resources = resources_with_target(60, |_| (40.0, 100 << 20), |_| 99.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let out = analyze(&input, &FindingsConfig::default());
        let kinds: Vec<_> = out.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [FindingKind::GeneratorSaturated, FindingKind::ErrorOnset]
        );
        assert!(out.findings.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn metric_names_are_configurable_and_checked() {
        assert!(MetricNames::new(&["/(/"], &[], &[], &[]).is_err());
        let names = MetricNames::new(&["my_backlog"], &[], &[], &[]).unwrap();
        let queue = names.queue_depth.unwrap();
        assert!(queue.matches("my_backlog"));
        assert!(!queue.matches("dryad_queue_depth"));
        assert!(names.pool_acquire_wait.is_none());
        let d = MetricNames::default();
        assert!(d.queue_depth.unwrap().matches("dryad_queue_depth"));
        assert!(
            d.pool_acquire_wait
                .unwrap()
                .matches("dryad_db_pool_acquire_seconds")
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(12.0, 1), "12");
        assert_eq!(num(12.345, 1), "12.3");
        assert_eq!(num(100.0, 0), "100");
    }
}
