//! The example report with analysis data: resources of both sides, scraped dryad metrics, a
//! generator-health verdict (overloaded in the slow patch), ranked findings, a capacity search
//! with its USL fit, and an auto-scaling timeline with its checks. Synthetic and deterministic,
//! consistent with [`sample_report`]'s 60-second timeline. Some texts carry markup (a route
//! label, a scrape error, the probe) to prove the page escapes what a server or user wrote.

use std::collections::BTreeMap;

use super::{Noise, sample_report};
use crate::analysis_model::*;
use crate::model::RunReport;

const MIB: f64 = 1024.0 * 1024.0;

/// [`sample_report`] with every part of [`Analysis`] filled.
pub fn analysed_report() -> RunReport {
    let mut r = sample_report();
    let health = generator_health();
    // The analysis's verdict replaces the plain sample's own generator warning.
    r.verdict
        .warnings
        .retain(|w| !w.starts_with("load generator CPU"));
    if !r.verdict.warnings.contains(&health.verdict) {
        r.verdict.warnings.push(health.verdict.clone());
    }
    let users: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .map(|s| (s.elapsed_s as f64, s.users as f64))
        .collect();
    let scaling = scaling(&r);
    r.analysis = Some(Analysis {
        resources: Some(resources(&users)),
        scraped: Some(scraped(&users)),
        generator_health: Some(health),
        findings: findings(),
        capacity: Some(capacity()),
        scaling: Some(scaling),
    });
    r
}

fn in_slow_patch(t: f64) -> bool {
    (38.0..44.0).contains(&t)
}

fn resources(users: &[(f64, f64)]) -> ResourceSeries {
    let mut noise = Noise(0x51_7CC1_B727_220A);
    let mut generator = Vec::new();
    let mut target = Vec::new();
    let mut system = Vec::new();
    for &(t, u) in users {
        let load = u / 50.0;
        let g_cpu = if in_slow_patch(t) {
            93.0 + 4.0 * noise.next()
        } else {
            12.0 + 55.0 * load + 4.0 * noise.next()
        };
        let t_cpu = 18.0 + 66.0 * load + 5.0 * noise.next();
        generator.push(ProcessSample {
            elapsed_s: t,
            cpu_core_pct: g_cpu * 2.0,
            cpu_available_pct: g_cpu,
            rss_bytes: ((36.0 + 6.0 * load) * MIB) as u64,
        });
        target.push(ProcessSample {
            elapsed_s: t,
            cpu_core_pct: t_cpu * 2.0,
            cpu_available_pct: t_cpu,
            // Memory grows through the hold: about 40 MiB a minute.
            rss_bytes: ((118.0 + 10.0 * load + 0.66 * t) * MIB) as u64,
        });
        system.push(SystemCpuSample {
            elapsed_s: t,
            busy_pct: ((g_cpu + t_cpu) / 2.0 + 3.0).min(100.0),
            iowait_pct: 0.8 + 2.5 * noise.next() + if in_slow_patch(t) { 6.0 } else { 0.0 },
            steal_pct: 0.3 * noise.next(),
        });
    }
    ResourceSeries {
        generator: Some(ProcessSeries {
            label: "generator".into(),
            pid: 40_211,
            cores_available: 2.0,
            samples: generator,
            ended: None,
            tree: false,
            cpu_limit: None,
            restarts: Vec::new(),
        }),
        target: Some(ProcessSeries {
            label: "dryad".into(),
            pid: 40_187,
            cores_available: 2.0,
            samples: target,
            ended: None,
            tree: true,
            cpu_limit: Some(CpuLimit {
                cores: 2.0,
                source: CpuLimitSource::Machine,
                machine_cpus: 2,
                affinity: Some("0-1".into()),
                affinity_cpus: Some(2),
                cgroup_quota_cores: None,
                cgroup_file: None,
            }),
            restarts: Vec::new(),
        }),
        system,
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn series(
    name: &str,
    l: &[(&str, &str)],
    stat: SeriesStat,
    users: &[(f64, f64)],
    f: impl Fn(f64, f64) -> f64,
) -> MetricSeries {
    MetricSeries {
        name: name.into(),
        labels: labels(l),
        stat,
        points: users
            .iter()
            .skip(1)
            .map(|&(t, u)| SeriesPoint {
                elapsed_s: t,
                value: f(t, u),
            })
            .collect(),
    }
}

fn scraped(users: &[(f64, f64)]) -> ScrapedMetrics {
    let stall = |t: f64| if in_slow_patch(t) { 2.5 } else { 1.0 };
    let rate = SeriesStat::Rate;
    let gauge = SeriesStat::Gauge;
    let q = |q: f64| SeriesStat::Quantile { q };
    let mut s = vec![
        series("dryad_agents_created_total", &[], rate, users, |t, u| {
            u * 1.65 / stall(t)
        }),
        series(
            "dryad_auth_failures_total",
            &[("reason", "bad_password")],
            rate,
            users,
            |t, u| u * 0.08 * stall(t),
        ),
        series(
            "dryad_build_info",
            &[("version", "0.1.0")],
            gauge,
            users,
            |_, _| 1.0,
        ),
        series(
            "dryad_db_pool_acquire_wait_seconds",
            &[],
            q(0.95),
            users,
            |t, u| (u / 50.0).powi(3) * 0.014 * stall(t),
        ),
        series(
            "dryad_db_pool_acquire_wait_seconds",
            &[],
            SeriesStat::Mean,
            users,
            |t, u| (u / 50.0).powi(3) * 0.004 * stall(t),
        ),
        series(
            "dryad_db_pool_connections",
            &[("state", "in_use")],
            gauge,
            users,
            |_, u| (u / 5.0).min(10.0),
        ),
        series(
            "dryad_db_pool_connections",
            &[("state", "idle")],
            gauge,
            users,
            |_, u| 10.0 - (u / 5.0).min(10.0),
        ),
        series(
            "dryad_db_pool_max_connections",
            &[],
            gauge,
            users,
            |_, _| 10.0,
        ),
        series("dryad_queue_depth", &[], gauge, users, |t, u| {
            (u / 10.0 + (t - 20.0).max(0.0) * 0.6).round()
        }),
        series("dryad_workers_current", &[], gauge, users, |t, _| {
            workers(t)
        }),
        series("process_open_fds", &[], gauge, users, |_, u| 24.0 + u),
        series(
            "process_resident_memory_bytes",
            &[],
            gauge,
            users,
            |t, u| (118.0 + 10.0 * u / 50.0 + 0.66 * t) * MIB,
        ),
    ];
    for (route, share) in [
        ("/agents", 0.55),
        ("/agents/{id}/metrics", 0.25),
        ("/auth/login", 0.12),
        ("/search?q=<b>", 0.08),
    ] {
        s.push(series(
            "dryad_http_requests_total",
            &[("route", route), ("status", "200")],
            rate,
            users,
            move |t, u| u * 11.0 * share / stall(t),
        ));
    }
    for (qq, k) in [(0.5, 1.0), (0.95, 2.6), (0.99, 4.1)] {
        s.push(series(
            "dryad_http_request_duration_seconds",
            &[],
            q(qq),
            users,
            move |t, u| 0.009 * k * (1.0 + 0.6 * u / 50.0) * stall(t),
        ));
    }
    s.push(series(
        "dryad_http_request_duration_seconds",
        &[],
        SeriesStat::Mean,
        users,
        |t, u| 0.0125 * (1.0 + 0.6 * u / 50.0) * stall(t),
    ));
    s.sort_by(|a, b| a.name.cmp(&b.name).then(a.labels.cmp(&b.labels)));
    ScrapedMetrics {
        url: "http://127.0.0.1:8000/metrics".into(),
        scrapes: 59,
        failed_scrapes: 1,
        last_error: Some("GET /metrics at 0:41: connection reset <by peer> & retried".into()),
        series: s,
    }
}

fn workers(t: f64) -> f64 {
    match t {
        t if t < 8.0 => 2.0,
        t if t < 14.0 => 4.0,
        _ => 6.0,
    }
}

fn generator_health() -> GeneratorHealth {
    GeneratorHealth {
        healthy: false,
        verdict: "The results understate the target's capacity: the load generator could not \
                  keep up in 6 of 60 s (CPU at or above 90% of its 2 cores)."
            .into(),
        reasons: vec!["CPU at or above 90% of the 2 available cores in 6 s (peak 96.8%)".into()],
        affected: vec![TimeWindow::new(38.0, 44.0)],
        affected_intervals: (39..=44).collect(),
    }
}

fn ev(label: &str, value: f64, unit: &str, window: Option<TimeWindow>) -> Evidence {
    Evidence {
        label: label.into(),
        value,
        unit: unit.into(),
        window,
    }
}

fn findings() -> Vec<Finding> {
    let patch = Some(TimeWindow::new(38.0, 44.0));
    let hold = Some(TimeWindow::new(10.0, 60.0));
    vec![
        Finding {
            kind: FindingKind::GeneratorSaturated,
            severity: Severity::Critical,
            score: 100.0,
            title: "The load generator could not keep up".into(),
            summary: "cicada used 93–97% of its 2 cores for 6 s; latencies measured then include \
                      client-side delay and the throughput is the generator's limit, not the \
                      target's."
                .into(),
            evidence: vec![
                ev("generator CPU (peak)", 96.8, "%", patch),
                ev("seconds affected", 6.0, "s", patch),
            ],
            window: patch,
            next_step:
                "Give cicada more CPU (another machine, or more worker threads), or lower the \
                        load, and run again before trusting these numbers."
                    .into(),
        },
        Finding {
            kind: FindingKind::ConnectionPoolSaturated,
            severity: Severity::Critical,
            score: 82.0,
            title: "Database connection pool saturated".into(),
            summary: "All 10 connections were in use from 50 users on, and requests waited up \
                      to 35 ms for one (p95)."
                .into(),
            evidence: vec![
                ev("pool acquire wait p95 (peak)", 35.0, "ms", patch),
                ev("connections in use", 10.0, "of 10", hold),
            ],
            window: hold,
            next_step: "Raise the pool size or shorten the queries \
                        holding connections; watch dryad_db_pool_acquire_wait_seconds."
                .into(),
        },
        Finding {
            kind: FindingKind::TargetCpuBound,
            severity: Severity::Warning,
            score: 64.0,
            title: "Target is close to CPU-bound".into(),
            summary: "dryad used 84–89% of its 2 cores through the hold while throughput per \
                      user fell to 58% of its low-load value."
                .into(),
            evidence: vec![
                ev("target CPU (mean)", 86.4, "%", hold),
                ev("throughput per user vs low load", 58.0, "%", hold),
            ],
            window: hold,
            next_step: "Profile dryad under this load (e.g. perf record -g -p PID) or add \
                        replicas."
                .into(),
        },
        Finding {
            kind: FindingKind::ErrorOnset,
            severity: Severity::Warning,
            score: 51.0,
            title: "Errors begin at 5 users".into(),
            summary: "Failures started in the first seconds and continued: mostly HTTP 401 on \
                      POST /auth/login, then timeouts on GET /agents/{id}/metrics."
                .into(),
            evidence: vec![
                ev("first failing second", 1.0, "s", None),
                ev("load then", 5.0, "users", None),
                ev("status failures", 61.0, "failures", None),
            ],
            window: Some(TimeWindow::new(1.0, 60.0)),
            next_step: "Check the test account's credentials (401 means the login was \
                        refused), then the metrics query's timeout."
                .into(),
        },
        Finding {
            kind: FindingKind::MemoryGrowth,
            severity: Severity::Info,
            score: 30.0,
            title: "Target memory grows through the hold".into(),
            summary: "dryad's RSS rose by about 40 MiB a minute while the load was flat \
                      (linear fit R² 0.98)."
                .into(),
            evidence: vec![ev("RSS slope", 40.0, "MiB/min", hold)],
            window: hold,
            next_step: "Run longer at flat load; if it keeps growing, take heap profiles \
                        a few minutes apart."
                .into(),
        },
        Finding {
            kind: FindingKind::SlowEndpoint,
            severity: Severity::Info,
            score: 22.0,
            title: "GET /search?q=<b>&x='1' takes 31% of all request time".into(),
            summary: "8% of the requests, 31% of the time spent waiting for responses.".into(),
            evidence: vec![
                ev("share of total time", 31.0, "%", None),
                ev("share of requests", 8.0, "%", None),
            ],
            window: None,
            next_step: "Look at the search query plan first: it is where time goes.".into(),
        },
    ]
}

/// `X(N)` of the Universal Scalability Law.
fn usl(sigma: f64, kappa: f64, lambda: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

fn capacity() -> CapacityResult {
    let mut noise = Noise(0xC0FF_EE00_1234_5678);
    let (sigma, kappa, lambda) = (0.03, 0.000_05, 12.0);
    let loads = [10.0, 20.0, 40.0, 80.0, 160.0, 120.0, 140.0, 130.0, 135.0];
    let steps: Vec<CapacityStep> = loads
        .iter()
        .map(|&n| {
            let throughput = usl(sigma, kappa, lambda, n) * (0.98 + 0.04 * noise.next());
            let p95_ms = 18.0 * (n / 55.0f64).exp();
            let error_rate = if n >= 160.0 {
                0.021
            } else if n >= 120.0 {
                0.001 * (n - 115.0) / 5.0
            } else {
                0.0
            };
            let mut violations = Vec::new();
            if p95_ms >= 200.0 {
                violations.push(format!("p95<200ms: measured {p95_ms:.1}ms"));
            }
            if error_rate >= 0.01 {
                violations.push(format!(
                    "error_rate<1%: measured {:.2}%",
                    error_rate * 100.0
                ));
            }
            CapacityStep {
                load: n,
                warmup_discarded_s: 10.0,
                measured_s: 30.0,
                throughput,
                p95_ms,
                error_rate,
                generator_healthy: true,
                passed: violations.is_empty(),
                violations,
            }
        })
        .collect();
    let (fs, fk, fl) = (0.031, 0.000_048, 11.9);
    let mut points: Vec<UslPoint> = steps
        .iter()
        .map(|s| UslPoint {
            concurrency: s.load,
            measured: s.throughput,
            fitted: usl(fs, fk, fl, s.load),
        })
        .collect();
    points.sort_by(|a, b| a.concurrency.total_cmp(&b.concurrency));
    let peak = ((1.0 - fs) / fk).sqrt();
    CapacityResult {
        load_unit: LoadUnit::Users,
        slos: vec!["p95<200ms".into(), "error_rate<1%".into()],
        steps,
        max_passing_load: Some(130.0),
        min_failing_load: Some(135.0),
        stop_reason: "bisection converged: 130 users pass, 135 fail (within 5%)".into(),
        headline: "max users at P95 < 200 ms and error rate < 1 %: 130".into(),
        usl: Some(UslFit {
            sigma: fs,
            kappa: fk,
            lambda: fl,
            peak_concurrency: Some(peak),
            predicted_max_throughput: Some(usl(fs, fk, fl, peak)),
            r_squared: 0.994,
            points,
        }),
        usl_error: None,
    }
}

fn scaling(r: &RunReport) -> ScalingReport {
    // From 2 s before the first change (0:08) to 10 s after the last (0:14).
    let scaling_errors: u64 = r
        .timeline
        .iter()
        .filter(|s| (6..=24).contains(&s.elapsed_s))
        .map(|s| s.failures)
        .sum();
    let timeline = r
        .timeline
        .iter()
        .map(|s| {
            let t = s.elapsed_s as f64;
            ScalingPoint {
                elapsed_s: t,
                load: s.users as f64,
                replicas: (s.elapsed_s != 30).then(|| workers(t)),
                p95_ms: s.percentiles.p95,
                errors: s.failures,
            }
        })
        .collect();
    let check =
        |name: &str, passed: bool, m: Option<f64>, l: Option<f64>, unit: &str, reason: &str| {
            ScalingCheck {
                name: name.into(),
                passed,
                measured: m,
                limit: l,
                unit: unit.into(),
                reason: reason.into(),
                skipped: false,
            }
        };
    let mut scale_in = check(
        "scale_in",
        true,
        None,
        Some(300.0),
        "s",
        "the load never dropped, so scale-in could not be seen",
    );
    scale_in.skipped = true;
    ScalingReport {
        probe: "prom:http://127.0.0.1:8000/metrics#dryad_workers_current{pool=\"<default>\"}"
            .into(),
        timeline,
        probe_failures: 1,
        checks: vec![
            check(
                "scale_out_reaction",
                true,
                Some(4.0),
                Some(60.0),
                "s",
                "the count rose from 2 to 4 at 0:08, 4 s after the load passed 150% of the baseline",
            ),
            check(
                "reach_needed_count",
                true,
                Some(10.0),
                Some(180.0),
                "s",
                "6 workers (the most seen in the hold) running at 0:14, 10 s after the rise",
            ),
            check(
                "slo_recovery",
                true,
                Some(0.0),
                Some(120.0),
                "s",
                "p95 stayed under 500 ms throughout",
            ),
            scale_in,
            check(
                "no_flapping",
                true,
                Some(0.0),
                Some(1.0),
                "changes",
                "no change of direction while the load was flat (0:10–1:00)",
            ),
            check(
                "errors_during_scaling",
                false,
                Some(scaling_errors as f64),
                Some(0.0),
                "errors",
                &format!(
                    "{scaling_errors} errors from 0:06 to 0:24, around the changes 2 → 4 → 6 workers"
                ),
            ),
        ],
        passed: false,
    }
}
