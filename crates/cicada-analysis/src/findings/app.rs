//! A queue inside the application: an endpoint's requests wait, but neither in the database
//! nor for CPU. Its `Server-Timing` says most of its response time is `app` (outside queries
//! and connection waits), its typical response is several times its fastest one (the fastest
//! did not wait), and the target's CPU had room. What is left is a bounded resource inside
//! the service: a semaphore or permit pool (dryad's password-hash permits), a worker pool, a
//! lock. Not the database: adding indexes or connections would change nothing.

use cicada_report::analysis_model::{Finding, FindingKind};
use cicada_report::model::RequestStats;

use super::timeline::mean;
use super::{FindingsConfig, FindingsInput, ev, num, severity};

/// Share of the endpoint's response time outside the database from which the rule looks.
pub const APP_SHARE: f64 = 0.5;
/// The typical (median) response at least this many times the fastest one: requests queue.
pub const QUEUE_FACTOR: f64 = 3.0;
/// ... and at least this many ms longer.
pub const QUEUE_MIN_MS: f64 = 10.0;

fn label(r: &RequestStats) -> String {
    if r.method.is_empty() || r.name.starts_with(&r.method) {
        r.name.clone()
    } else {
        format!("{} {}", r.method, r.name)
    }
}

/// The target's mean CPU (% of the cores it may use) over the loaded seconds, and its cores.
fn target_cpu(input: &FindingsInput<'_>) -> Option<(f64, f64)> {
    let target = input.resources?.target.as_ref()?;
    let loaded: Vec<u64> = input
        .report
        .timeline
        .iter()
        .filter(|s| s.requests > 0)
        .map(|s| s.elapsed_s)
        .collect();
    let cpu = mean(
        target
            .samples
            .iter()
            .filter(|s| loaded.contains(&(s.elapsed_s.round() as u64)))
            .map(|s| s.cpu_available_pct),
    )?;
    Some((cpu, target.cores_available))
}

pub fn app_queue(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let report = input.report;
    let (cpu, cores) = target_cpu(input)?;
    if cpu >= cfg.target_cpu_bound_pct {
        return None; // short of CPU: `cpu` speaks
    }
    let total: f64 = report
        .requests
        .iter()
        .map(|r| r.requests as f64 * r.mean_ms)
        .sum();
    // (row, its app share, its queueing share of response time, its share of all time)
    let mut best: Option<(&RequestStats, f64, f64, f64)> = None;
    for r in &report.requests {
        let Some(t) = &r.server_timing else { continue };
        if t.response_ms <= 0.0 || r.requests < 10 {
            continue;
        }
        let app = (t.app_ms / t.response_ms).min(1.0);
        let typical = r.percentiles.p50;
        if app < APP_SHARE || typical < QUEUE_FACTOR * r.min_ms || typical - r.min_ms < QUEUE_MIN_MS
        {
            continue;
        }
        let queued = ((r.mean_ms - r.min_ms) / r.mean_ms.max(1e-9)).clamp(0.0, 1.0);
        let of_all = r.requests as f64 * r.mean_ms / total.max(1e-9);
        if best.is_none_or(|b| of_all * queued > b.3 * b.2) {
            best = Some((r, app, queued, of_all));
        }
    }
    let (r, app, queued, of_all) = best?;
    let t = r.server_timing.as_ref()?;
    let name = label(r);
    // What users felt: the share of all request time spent queueing in this endpoint.
    let impact = of_all * queued;
    let slo_missed =
        severity::latency_slo_missed(report) || severity::endpoint_slo_missed(report, &name);
    Some(Finding {
        kind: FindingKind::AppQueue,
        severity: severity::from_share(impact, slo_missed),
        score: 480.0 + 40.0 * impact,
        title: format!("{name} waits inside the application (not the database, not the CPU)"),
        summary: format!(
            "{name}: median {} ms against {} ms for its fastest request, so about {} % of its \
             time is spent waiting; {} % of its response time is in the application \
             (Server-Timing app), {} % in queries and {} % waiting for a connection; the \
             target's CPU averaged {} % of its {} cores. Requests queue for a bounded resource \
             inside the service: a semaphore or permit pool, a worker pool, a lock.",
            num(r.percentiles.p50, 1),
            num(r.min_ms, 1),
            num(queued * 100.0, 0),
            num(app * 100.0, 0),
            num(t.db_share * 100.0, 0),
            num(t.pool_share * 100.0, 0),
            num(cpu, 0),
            num(cores, 1)
        ),
        evidence: vec![
            ev(
                &format!("{name} median response"),
                r.percentiles.p50,
                "ms",
                None,
            ),
            ev(&format!("{name} fastest response"), r.min_ms, "ms", None),
            ev(
                &format!("{name} share of response time in the application"),
                app * 100.0,
                "%",
                None,
            ),
            ev(
                &format!("{name} share of response time in the database"),
                (t.db_share + t.pool_share) * 100.0,
                "%",
                None,
            ),
            ev("target CPU (mean, % of its cores)", cpu, "%", None),
            ev(
                "time spent queueing, share of all request time",
                impact * 100.0,
                "%",
                None,
            ),
        ],
        window: None,
        next_step: format!(
            "Find what {name}'s handler waits for inside the service: a permit or worker pool \
             (dryad: the password-hash permits, `--hash-concurrency`), a mutex, a single-threaded \
             section. The CPU has room ({} % used), so raise that limit toward the cores the \
             target has, or make the work behind it cheaper. Not the database: indexes or more \
             connections would not help.",
            num(cpu, 0)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;
    use cicada_report::model::ServerTimingStats;

    /// Logins: `median_ms` typical, 30 ms fastest, 1 ms in the database.
    fn logins(median_ms: f64) -> cicada_report::RunReport {
        let mut report = ReportBuilder::ramp_and_hold(20, 8.0).build(|_, _| Second {
            rps: 25.0,
            p95_ms: median_ms * 1.2,
            by_request: vec![("/api/v1/auth/login", 25, median_ms * 1.2)],
            ..Second::default()
        });
        let row = &mut report.requests[0];
        row.method = "POST".into();
        row.min_ms = 30.0;
        row.mean_ms = median_ms;
        row.percentiles.p50 = median_ms;
        let n = row.requests;
        let us = |ms: f64| (ms * 1000.0 * n as f64) as u64;
        row.server_timing = ServerTimingStats::from_sums_us(
            n,
            us(median_ms),
            us(1.0),
            us(0.1),
            us(median_ms - 1.1),
        );
        report
    }

    fn input<'a>(
        report: &'a cicada_report::RunReport,
        resources: &'a cicada_report::analysis_model::ResourceSeries,
    ) -> FindingsInput<'a> {
        let mut input = FindingsInput::new(report);
        input.resources = Some(resources);
        input
    }

    #[test]
    fn logins_queueing_for_a_permit_with_cpu_to_spare_are_app_bound() {
        let report = logins(300.0);
        let half = resources_with_target(20, |_| (50.0, 1 << 20), |_| 5.0);
        let f = app_queue(&input(&report, &half), &FindingsConfig::default()).expect("finding");
        assert_eq!(
            f.title,
            "POST /api/v1/auth/login waits inside the application (not the database, not the CPU)"
        );
        assert!(
            f.summary.contains("median 300 ms against 30 ms"),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains("CPU averaged 50 % of its 2 cores"),
            "{}",
            f.summary
        );
        // 90 % of all request time is queueing.
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.next_step.contains("--hash-concurrency"));
    }

    #[test]
    fn no_queue_or_no_cpu_left_is_not_an_app_queue() {
        // Healthy logins: median 35 ms, fastest 30 ms.
        let report = logins(35.0);
        let half = resources_with_target(20, |_| (50.0, 1 << 20), |_| 5.0);
        assert!(app_queue(&input(&report, &half), &FindingsConfig::default()).is_none());
        // Queueing at a pegged CPU is the CPU's finding.
        let report = logins(300.0);
        let pegged = resources_with_target(20, |_| (97.0, 1 << 20), |_| 5.0);
        assert!(app_queue(&input(&report, &pegged), &FindingsConfig::default()).is_none());
    }
}
