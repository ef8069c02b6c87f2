//! Builders of constructed run reports and series for the rules' tests.

use std::collections::BTreeMap;

use cicada_report::analysis_model::{
    MetricSeries, ProcessSample, ProcessSeries, ResourceSeries, ScrapedMetrics, SeriesPoint,
    SeriesStat,
};
use cicada_report::model::*;

/// What one second of a constructed run looked like.
#[derive(Debug, Clone, Default)]
pub struct Second {
    pub rps: f64,
    pub p95_ms: f64,
    pub failures: u64,
    /// (name, requests, p95 ms) per request row.
    pub by_request: Vec<(&'static str, u64, f64)>,
    pub schedule_lag_p99_ms: Option<f64>,
    pub dropped: Option<u64>,
}

/// A run of `users(t)` users for `seconds` seconds.
pub struct ReportBuilder {
    pub seconds: u64,
    pub users: Box<dyn Fn(u64) -> f64>,
    pub model: LoadModel,
}

impl ReportBuilder {
    /// Ramp linearly to `users` over 10 s, then hold.
    pub fn ramp_and_hold(seconds: u64, users: f64) -> Self {
        Self {
            seconds,
            users: Box::new(move |t| {
                if t < 10 {
                    users * t as f64 / 10.0
                } else {
                    users
                }
            }),
            model: LoadModel::Closed,
        }
    }

    /// Steps: `(seconds, users)` one after the other.
    pub fn steps(steps: &[(u64, f64)]) -> Self {
        let steps = steps.to_vec();
        let total = steps.iter().map(|s| s.0).sum();
        Self {
            seconds: total,
            users: Box::new(move |t| {
                let mut end = 0;
                for &(d, u) in &steps {
                    end += d;
                    if t <= end {
                        return u;
                    }
                }
                steps.last().map_or(0.0, |s| s.1)
            }),
            model: LoadModel::Closed,
        }
    }

    pub fn build(&self, second: impl Fn(u64, f64) -> Second) -> RunReport {
        let mut timeline = Vec::new();
        let (mut total_requests, mut total_failures) = (0, 0);
        let mut rows: BTreeMap<&'static str, (u64, u64, f64)> = BTreeMap::new();
        let mut failures_by_row: BTreeMap<&'static str, u64> = BTreeMap::new();
        for t in 1..=self.seconds {
            let users = (self.users)(t);
            let s = second(t, users);
            let requests = s.rps.round() as u64;
            total_requests += requests;
            total_failures += s.failures;
            let by_request = if s.by_request.is_empty() {
                vec![("GET /", requests, s.p95_ms)]
            } else {
                s.by_request.clone()
            };
            for &(name, n, p95) in &by_request {
                let row = rows.entry(name).or_default();
                row.0 += n;
                row.2 += p95 * n as f64;
            }
            if s.failures > 0 {
                *failures_by_row.entry(by_request[0].0).or_default() += s.failures;
            }
            timeline.push(IntervalSample {
                elapsed_s: t,
                unix_time: 1_700_000_000 + t,
                users: users.round() as u64,
                requests,
                failures: s.failures,
                rps: s.rps,
                failures_per_s: s.failures as f64,
                percentiles: Percentiles {
                    p95: s.p95_ms,
                    ..Percentiles::default()
                },
                mean_ms: s.p95_ms / 2.0,
                total_requests,
                total_failures,
                by_request: by_request
                    .iter()
                    .map(|&(name, n, p95)| IntervalRequestSample {
                        user_type: None,
                        method: "GET".into(),
                        name: name.into(),
                        requests: n,
                        failures: 0,
                        p50_ms: p95 / 2.0,
                        p95_ms: p95,
                        p99_ms: p95 * 1.2,
                    })
                    .collect(),
                late_iterations: None,
                dropped_iterations: s.dropped,
                schedule_lag_p99_ms: s.schedule_lag_p99_ms,
                cumulative: None,
                server_timing: None,
                histogram: None,
            });
        }
        let requests: Vec<RequestStats> = rows
            .iter()
            .map(|(name, &(n, _, p95_weighted))| {
                let mean = if n > 0 {
                    p95_weighted / n as f64 / 2.0
                } else {
                    0.0
                };
                stats(
                    name,
                    n,
                    failures_by_row.get(name).copied().unwrap_or(0),
                    mean,
                )
            })
            .collect();
        let failures = failures_by_row
            .iter()
            .map(|(name, &n)| FailureRow {
                user_type: None,
                method: "GET".into(),
                name: (*name).into(),
                kind: FailureKind::Status,
                message: "HTTP 503".into(),
                occurrences: n,
                body_excerpt: None,
            })
            .collect();
        RunReport {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo {
                name: "cicada".into(),
                version: "0.1.0".into(),
            },
            run: RunInfo {
                scenario: "test".into(),
                scenario_file: None,
                host: "http://127.0.0.1:1".into(),
                plan: PlanInfo {
                    model: self.model,
                    description: "constructed".into(),
                    co_corrected: false,
                    run_time_s: Some(self.seconds as f64),
                    iterations: None,
                    stages: vec![],
                    spawn_rate: None,
                    max_concurrency: None,
                },
                started_at: "2026-01-01T00:00:00Z".into(),
                ended_at: "2026-01-01T00:01:00Z".into(),
                duration_s: self.seconds as f64,
                interrupted: false,
                seed: 1,
                segment: None,
                tags: vec![],
                exclude_tags: vec![],
                user_types: vec![],
                machine: MachineInfo {
                    hostname: "test".into(),
                    os: "linux".into(),
                    cpus: 2,
                    memory_bytes: None,
                    worker_threads: 2,
                },
            },
            verdict: Verdict {
                passed: true,
                failed: vec![],
                warnings: vec![],
                ..Verdict::default()
            },
            aggregated: stats(
                "Aggregated",
                total_requests,
                total_failures,
                requests.iter().map(|r| r.mean_ms).sum::<f64>() / requests.len().max(1) as f64,
            ),
            requests,
            timeline,
            failures,
            thresholds: vec![],
            open_model: None,
            analysis: None,
            merged: None,
            users: None,
        }
    }
}

fn stats(name: &str, requests: u64, failures: u64, mean_ms: f64) -> RequestStats {
    RequestStats {
        user_type: None,
        method: if name == "Aggregated" {
            String::new()
        } else {
            "GET".into()
        },
        name: name.into(),
        requests,
        failures,
        failure_ratio: if requests > 0 {
            failures as f64 / requests as f64
        } else {
            0.0
        },
        min_ms: 0.0,
        max_ms: mean_ms * 4.0,
        mean_ms,
        percentiles: Percentiles::default(),
        avg_size_bytes: 0.0,
        total_bytes: 0,
        rps: 0.0,
        failures_per_s: 0.0,
        current_rps: 0.0,
        current_failures_per_s: 0.0,
        connect_mean_ms: None,
        ttfb_mean_ms: None,
        distribution: vec![],
        histogram: None,
        server_timing: None,
    }
}

fn process(label: &str, seconds: u64, f: impl Fn(u64) -> (f64, u64)) -> ProcessSeries {
    ProcessSeries {
        label: label.into(),
        pid: 42,
        cores_available: 2.0,
        samples: (1..=seconds)
            .map(|t| {
                let (cpu, rss) = f(t);
                ProcessSample {
                    elapsed_s: t as f64,
                    cpu_core_pct: cpu * 2.0,
                    cpu_available_pct: cpu,
                    rss_bytes: rss,
                }
            })
            .collect(),
        ended: None,
        tree: false,
        cpu_limit: None,
        restarts: Vec::new(),
    }
}

/// Target `(cpu % of its cores, rss)` and generator CPU % per second.
pub fn resources_with_target(
    seconds: u64,
    target: impl Fn(u64) -> (f64, u64),
    generator_cpu: impl Fn(u64) -> f64,
) -> ResourceSeries {
    ResourceSeries {
        generator: Some(process("generator", seconds, |t| {
            (generator_cpu(t), 50 << 20)
        })),
        target: Some(process("target", seconds, target)),
        system: vec![],
    }
}

/// One scraped series per second.
pub fn series(name: &str, stat: SeriesStat, seconds: u64, f: impl Fn(u64) -> f64) -> MetricSeries {
    MetricSeries {
        name: name.into(),
        labels: BTreeMap::new(),
        stat,
        points: (1..=seconds)
            .map(|t| SeriesPoint {
                elapsed_s: t as f64,
                value: f(t),
            })
            .collect(),
    }
}

pub fn scraped(series: Vec<MetricSeries>) -> ScrapedMetrics {
    ScrapedMetrics {
        url: "http://127.0.0.1:1/metrics".into(),
        scrapes: 60,
        failed_scrapes: 0,
        last_error: None,
        series,
    }
}
