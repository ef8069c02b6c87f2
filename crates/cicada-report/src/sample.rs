//! A realistic, deterministic example report: five request rows (one with markup in its name,
//! to prove escaping), a 60-second ramp-and-hold timeline with a slow patch, three failure
//! groups, and passing and failing thresholds. Synthetic data, made for documentation, demos
//! and the tests of everything that renders a [`RunReport`] (the numbers are self-consistent:
//! row totals add up to the aggregated row and to the timeline). [`analysed_report`] adds the
//! performance analysis (resources, scraped metrics, findings, capacity, auto-scaling).

use crate::model::*;

mod analysis;

pub use analysis::analysed_report;

/// Deterministic noise in `0.0..1.0` (xorshift), so the fixture is the same on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct RowSpec {
    method: &'static str,
    name: &'static str,
    share: f64,
    base_ms: f64,
    tail: f64,
    fail_ratio: f64,
    size: f64,
}

const ROWS: [RowSpec; 5] = [
    RowSpec {
        method: "GET",
        name: "/agents",
        share: 0.40,
        base_ms: 4.2,
        tail: 3.0,
        fail_ratio: 0.0,
        size: 2048.0,
    },
    RowSpec {
        method: "GET",
        name: "/agents/{id}/metrics",
        share: 0.25,
        base_ms: 38.0,
        tail: 9.0,
        fail_ratio: 0.004,
        size: 5120.0,
    },
    RowSpec {
        method: "POST",
        name: "/agents",
        share: 0.15,
        base_ms: 11.5,
        tail: 4.0,
        fail_ratio: 0.0,
        size: 512.0,
    },
    RowSpec {
        method: "POST",
        name: "/auth/login",
        share: 0.12,
        base_ms: 22.0,
        tail: 2.5,
        fail_ratio: 0.06,
        size: 256.0,
    },
    RowSpec {
        method: "GET",
        name: "/search?q=<b>&x='1'",
        share: 0.08,
        base_ms: 64.0,
        tail: 6.0,
        fail_ratio: 0.01,
        size: 9000.0,
    },
];

fn percentiles(base: f64, tail: f64, load: f64) -> Percentiles {
    let b = base * (1.0 + 0.6 * load);
    Percentiles {
        p50: b,
        p66: b * 1.15,
        p75: b * 1.3,
        p80: b * 1.4,
        p90: b * 1.8,
        p95: b * 2.3 * (1.0 + tail * 0.05),
        p98: b * 3.0 * (1.0 + tail * 0.1),
        p99: b * 3.6 * (1.0 + tail * 0.15),
        p99_9: b * 5.0 * (1.0 + tail * 0.3),
        p99_99: b * 6.5 * (1.0 + tail * 0.45),
        p100: b * 7.0 * (1.0 + tail * 0.5),
    }
}

fn distribution(min: f64, p: &Percentiles) -> Vec<DistributionPoint> {
    [
        (0.0, min),
        (50.0, p.p50),
        (66.0, p.p66),
        (75.0, p.p75),
        (80.0, p.p80),
        (90.0, p.p90),
        (95.0, p.p95),
        (98.0, p.p98),
        (99.0, p.p99),
        (99.9, p.p99_9),
        (99.99, p.p99_99),
        (100.0, p.p100),
    ]
    .into_iter()
    .map(|(percentile, ms)| DistributionPoint { percentile, ms })
    .collect()
}

/// Share of each row's response time spent in the database (`Server-Timing: db`).
const DB_SHARE: [f64; 5] = [0.35, 0.6, 0.1, 0.45, 0.2];

fn timing_stats(sums: &[u64]) -> Option<crate::model::ServerTimingStats> {
    crate::model::ServerTimingStats::from_sums_us(sums[0], sums[1], sums[2], sums[3], sums[4])
}

/// The fixture: a 60 s closed-model run, 10 s ramp to 50 users.
pub fn sample_report() -> RunReport {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let seconds = 60u64;
    let start_unix = 1_795_000_000u64;
    let mut timeline = Vec::new();
    let mut row_requests = [0u64; 5];
    let mut row_failures = [0u64; 5];
    let mut row_weighted_ms = [0f64; 5];
    let (mut total_requests, mut total_failures) = (0u64, 0u64);
    let mut last_rps = [0f64; 5];
    let mut last_fps = [0f64; 5];
    // Server-Timing sums per row: responses, response µs, db µs, pool µs, app µs.
    let mut row_timing = [[0u64; 5]; 5];
    for sec in 1..=seconds {
        let users = (sec * 5).min(50);
        let load = users as f64 / 50.0;
        // A slow patch between 38 s and 44 s.
        let stall = if (38..44).contains(&sec) { 2.5 } else { 1.0 };
        let rps_total = users as f64 * 11.0 / stall * (0.95 + 0.1 * noise.next());
        let mut by_request = Vec::new();
        let (mut sec_requests, mut sec_failures, mut sec_weighted) = (0u64, 0u64, 0f64);
        let mut sec_timing = [0u64; 5];
        for (i, spec) in ROWS.iter().enumerate() {
            let n = (rps_total * spec.share).round() as u64;
            let f = (n as f64 * spec.fail_ratio * stall * (0.5 + noise.next())).round() as u64;
            let p = percentiles(spec.base_ms * stall, spec.tail, load);
            let mean = p.p50 * 1.12;
            row_requests[i] += n;
            row_failures[i] += f;
            row_weighted_ms[i] += mean * n as f64;
            last_rps[i] = n as f64;
            last_fps[i] = f as f64;
            sec_requests += n;
            sec_failures += f;
            sec_weighted += mean * n as f64;
            // The database takes a row-specific share of the time, more (with pool waits)
            // during the slow patch.
            let response_us = (mean * 1000.0) as u64 * n;
            let db_share = DB_SHARE[i] * if stall > 1.0 { 1.4 } else { 1.0 };
            let timing = [
                n,
                response_us,
                (response_us as f64 * db_share) as u64,
                (response_us as f64 * if stall > 1.0 { 0.15 } else { 0.005 }) as u64,
                (response_us as f64 * 0.1) as u64,
            ];
            for k in 0..5 {
                row_timing[i][k] += timing[k];
                sec_timing[k] += timing[k];
            }
            by_request.push(IntervalRequestSample {
                user_type: None,
                method: spec.method.into(),
                name: spec.name.into(),
                requests: n,
                failures: f,
                p50_ms: p.p50,
                p95_ms: p.p95,
                p99_ms: p.p99,
            });
        }
        total_requests += sec_requests;
        total_failures += sec_failures;
        let agg = percentiles(9.0 * stall, 8.0, load);
        timeline.push(IntervalSample {
            elapsed_s: sec,
            unix_time: start_unix + sec,
            users,
            requests: sec_requests,
            failures: sec_failures,
            rps: sec_requests as f64,
            failures_per_s: sec_failures as f64,
            percentiles: agg,
            mean_ms: if sec_requests > 0 {
                sec_weighted / sec_requests as f64
            } else {
                0.0
            },
            total_requests,
            total_failures,
            by_request,
            late_iterations: None,
            dropped_iterations: None,
            schedule_lag_p99_ms: None,
            cumulative: None,
            server_timing: timing_stats(&sec_timing),
            histogram: None,
        });
    }
    let duration = seconds as f64;
    let requests: Vec<RequestStats> = ROWS
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let p = percentiles(spec.base_ms, spec.tail, 0.9);
            let min = spec.base_ms * 0.35;
            RequestStats {
                user_type: None,
                method: spec.method.into(),
                name: spec.name.into(),
                requests: row_requests[i],
                failures: row_failures[i],
                failure_ratio: row_failures[i] as f64 / row_requests[i] as f64,
                min_ms: min,
                max_ms: p.p100,
                mean_ms: row_weighted_ms[i] / row_requests[i] as f64,
                percentiles: p,
                avg_size_bytes: spec.size,
                total_bytes: (spec.size * row_requests[i] as f64) as u64,
                rps: row_requests[i] as f64 / duration,
                failures_per_s: row_failures[i] as f64 / duration,
                current_rps: last_rps[i],
                current_failures_per_s: last_fps[i],
                connect_mean_ms: Some(0.21),
                ttfb_mean_ms: Some(spec.base_ms * 0.9),
                distribution: distribution(min, &p),
                histogram: None,
                server_timing: timing_stats(&row_timing[i]),
            }
        })
        .collect();
    let agg_p = percentiles(9.0, 8.0, 0.9);
    let total_bytes: u64 = requests.iter().map(|r| r.total_bytes).sum();
    let weighted: f64 = row_weighted_ms.iter().sum();
    let aggregated = RequestStats {
        user_type: None,
        method: String::new(),
        name: "Aggregated".into(),
        requests: total_requests,
        failures: total_failures,
        failure_ratio: total_failures as f64 / total_requests as f64,
        min_ms: 1.47,
        max_ms: agg_p
            .p100
            .max(requests.iter().map(|r| r.max_ms).fold(0.0, f64::max)),
        mean_ms: weighted / total_requests as f64,
        percentiles: agg_p,
        avg_size_bytes: total_bytes as f64 / total_requests as f64,
        total_bytes,
        rps: total_requests as f64 / duration,
        failures_per_s: total_failures as f64 / duration,
        current_rps: last_rps.iter().sum(),
        current_failures_per_s: last_fps.iter().sum(),
        connect_mean_ms: Some(0.21),
        ttfb_mean_ms: Some(8.1),
        distribution: distribution(1.47, &agg_p),
        histogram: None,
        server_timing: timing_stats(
            &(0..5)
                .map(|k| row_timing.iter().map(|r| r[k]).sum())
                .collect::<Vec<u64>>(),
        ),
    };
    let error_pct = aggregated.failure_ratio * 100.0;
    let metrics_p99 = requests[1].percentiles.p99;
    let thresholds = vec![
        ThresholdResult {
            expression: "p95<200ms".into(),
            scope: None,
            metric: "p95".into(),
            op: "<".into(),
            limit: 200.0,
            observed: Some(aggregated.percentiles.p95),
            unit: "ms".into(),
            passed: aggregated.percentiles.p95 < 200.0,
            source: "scenario".into(),
        },
        ThresholdResult {
            expression: "error_rate<0.5%".into(),
            scope: None,
            metric: "error_rate".into(),
            op: "<".into(),
            limit: 0.5,
            observed: Some(error_pct),
            unit: "%".into(),
            passed: error_pct < 0.5,
            source: "cli".into(),
        },
        ThresholdResult {
            expression: "GET /agents/{id}/metrics: p99<100ms".into(),
            scope: Some("GET /agents/{id}/metrics".into()),
            metric: "p99".into(),
            op: "<".into(),
            limit: 100.0,
            observed: Some(metrics_p99),
            unit: "ms".into(),
            passed: metrics_p99 < 100.0,
            source: "scenario".into(),
        },
        ThresholdResult {
            expression: "rps>100".into(),
            scope: None,
            metric: "rps".into(),
            op: ">".into(),
            limit: 100.0,
            observed: Some(aggregated.rps),
            unit: "/s".into(),
            passed: aggregated.rps > 100.0,
            source: "cli".into(),
        },
    ];
    let failed: Vec<String> = thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| {
            format!(
                "{}: measured {:.2}{}",
                t.expression,
                t.observed.unwrap(),
                t.unit
            )
        })
        .collect();
    let f_metrics = row_failures[1];
    let f_login = row_failures[3];
    let f_search = row_failures[4];
    let mut failures = vec![
        FailureRow {
            user_type: None,
            method: "POST".into(),
            name: "/auth/login".into(),
            kind: FailureKind::Status,
            message: "HTTP 401 (expected 200)".into(),
            occurrences: f_login,
            body_excerpt: Some(r#"{"error":"invalid credentials"}"#.into()),
        },
        FailureRow {
            user_type: None,
            method: "GET".into(),
            name: "/agents/{id}/metrics".into(),
            kind: FailureKind::Timeout,
            message: "request timed out after 5s".into(),
            occurrences: f_metrics,
            body_excerpt: None,
        },
        FailureRow {
            user_type: None,
            method: "GET".into(),
            name: "/search?q=<b>&x='1'".into(),
            kind: FailureKind::Check,
            message: "check failed: body contains \"<html><script>alert(1)</script>\"".into(),
            occurrences: f_search,
            body_excerpt: Some("<html><script>alert('excerpt')</script>".into()),
        },
    ];
    failures.sort_by_key(|f| std::cmp::Reverse(f.occurrences));
    RunReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "cicada".into(),
            version: "0.1.0".into(),
        },
        run: RunInfo {
            scenario: "dryad-agents".into(),
            scenario_file: Some("tests/load/agents.toml".into()),
            host: "http://127.0.0.1:8000".into(),
            plan: PlanInfo {
                model: LoadModel::Closed,
                description: "50 users, spawn rate 5/s, 1m".into(),
                co_corrected: false,
                run_time_s: Some(60.0),
                iterations: None,
                stages: vec![
                    StageInfo {
                        duration_s: 10.0,
                        target: 50.0,
                    },
                    StageInfo {
                        duration_s: 50.0,
                        target: 50.0,
                    },
                ],
                spawn_rate: Some(5.0),
                max_concurrency: None,
            },
            started_at: "2026-11-18T09:33:20Z".into(),
            ended_at: "2026-11-18T09:34:20Z".into(),
            duration_s: duration,
            interrupted: false,
            seed: 42,
            segment: None,
            tags: vec![],
            exclude_tags: vec![],
            user_types: vec![UserTypeInfo {
                name: "AgentUser".into(),
                weight: 1,
                peak_users: 50,
            }],
            machine: MachineInfo {
                hostname: "loadgen-1".into(),
                os: "linux".into(),
                cpus: 2,
                memory_bytes: Some(24 * 1024 * 1024 * 1024),
                worker_threads: 2,
            },
        },
        // As `cicada::verdict::decide` words it; `error_rate<0.5%` covers every failure.
        verdict: Verdict {
            passed: failed.is_empty(),
            reason: format!("{} of {} thresholds failed", failed.len(), thresholds.len()),
            exit_code: Some(u8::from(!failed.is_empty())),
            failed,
            warnings: vec![
                "load generator CPU above 90% for 4s: latencies may include client-side delay"
                    .into(),
            ],
            ..Verdict::default()
        },
        requests,
        aggregated,
        timeline,
        failures,
        thresholds,
        open_model: None,
        analysis: None,
        merged: None,
        users: Some(crate::model::UserStarts {
            spawned: 100,
            never_started: 0,
            failed_request: None,
        }),
    }
}

/// The fixture with every threshold passing.
pub fn passing_report() -> RunReport {
    let mut r = sample_report();
    r.thresholds.retain(|t| t.passed);
    r.verdict.passed = true;
    r.verdict.failed.clear();
    r.verdict.exit_code = Some(0);
    r.verdict.reason = format!("all {} thresholds passed", r.thresholds.len());
    r
}
