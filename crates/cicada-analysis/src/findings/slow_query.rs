//! A slow query on one endpoint (a missing index, a scan of a big table): the endpoint spends
//! most of its response time in the database (`Server-Timing: db`), many milliseconds per
//! request, while the run as a whole need not be database-bound.
//!
//! The limit is a slow-query log's: [`FindingsConfig::slow_query_ms`] of queries per request
//! (mean), on a row that spends at least [`MIN_DB_SHARE`] of its response time in them.
//! Severity follows the share of all request time those queries take
//! ([`severity::from_share`]), raised when the run missed a latency threshold.

use cicada_report::model::{RequestStats, is_flow_method};

use cicada_report::analysis_model::{Finding, FindingKind};

use super::{FindingsConfig, FindingsInput, ev, num, severity};

/// Share of its own response time a row must spend in queries.
pub const MIN_DB_SHARE: f64 = 0.5;

fn label(r: &RequestStats) -> String {
    if r.method.is_empty() || r.name.starts_with(&r.method) {
        r.name.clone()
    } else {
        format!("{} {}", r.method, r.name)
    }
}

/// The row with the most time in slow queries, named with its evidence.
pub fn slow_query(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let rows: Vec<&RequestStats> = input
        .report
        .requests
        .iter()
        .filter(|r| !is_flow_method(&r.method) && r.requests > 0)
        .collect();
    let total_ms: f64 = rows.iter().map(|r| r.requests as f64 * r.mean_ms).sum();
    if total_ms <= 0.0 {
        return None;
    }
    let db_time = |r: &RequestStats| {
        r.server_timing
            .as_ref()
            .map_or(0.0, |t| t.responses as f64 * t.db_mean_ms)
    };
    let slow = rows
        .iter()
        .copied()
        .filter(|r| {
            r.server_timing
                .as_ref()
                .is_some_and(|t| t.db_mean_ms >= cfg.slow_query_ms && t.db_share >= MIN_DB_SHARE)
        })
        .max_by(|a, b| db_time(a).total_cmp(&db_time(b)))?;
    let t = slow.server_timing.as_ref()?;
    let name = label(slow);
    let impact = (db_time(slow) / total_ms).min(1.0);
    // The other endpoints' queries, for contrast: what a query costs here when it is fast.
    let (others_db, others_n) = rows
        .iter()
        .filter(|r| !std::ptr::eq(**r, slow))
        .filter_map(|r| r.server_timing.as_ref())
        .fold((0.0, 0u64), |(d, n), o| {
            (d + o.db_mean_ms * o.responses as f64, n + o.responses)
        });
    let mut evidence = vec![
        ev(
            &format!("{name}: time in queries per request (Server-Timing db, mean)"),
            t.db_mean_ms,
            "ms",
            None,
        ),
        ev(
            &format!("{name}: share of its response time in queries"),
            t.db_share * 100.0,
            "%",
            None,
        ),
        ev(
            &format!("{name}: mean response time"),
            slow.mean_ms,
            "ms",
            None,
        ),
        ev(
            &format!("{name}: its queries' share of all request time"),
            impact * 100.0,
            "%",
            None,
        ),
    ];
    let mut contrast = String::new();
    if others_n > 0 {
        let others = others_db / others_n as f64;
        evidence.push(ev(
            "other endpoints: time in queries per request (mean)",
            others,
            "ms",
            None,
        ));
        contrast = format!(
            "; the other endpoints' queries take {} ms per request",
            num(others, 2)
        );
    }
    Some(Finding {
        kind: FindingKind::SlowQuery,
        severity: severity::from_share(impact, severity::latency_slo_missed(input.report)),
        score: 520.0 + 40.0 * impact,
        title: format!(
            "{name} is slow in the database: {} ms of queries per request",
            num(t.db_mean_ms, 1)
        ),
        summary: format!(
            "{name} spends {} % of its response time in database queries, {} ms per request \
             (mean of {} responses; response time {} ms){contrast}. Its queries take {} % of all \
             request time.",
            num(t.db_share * 100.0, 0),
            num(t.db_mean_ms, 1),
            t.responses,
            num(slow.mean_ms, 1),
            num(impact * 100.0, 0)
        ),
        evidence,
        window: None,
        next_step: format!(
            "Look at the query plan of {name}'s queries (EXPLAIN QUERY PLAN on SQLite, EXPLAIN \
             ANALYZE on PostgreSQL): a full scan of a large table (SCAN, Seq Scan) or a sort of \
             it where an index would do is the usual cause. Add an index on the columns its \
             WHERE and ORDER BY use, then run again and compare its time in queries."
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;
    use cicada_report::model::{RunReport, ServerTimingStats};

    /// Two endpoints; `history_db_ms` of queries in each `/history` response (of `history_ms`).
    fn report(history_ms: f64, history_db_ms: f64) -> RunReport {
        let mut report = ReportBuilder::ramp_and_hold(30, 10.0).build(|_, _| Second {
            rps: 100.0,
            p95_ms: 10.0,
            by_request: vec![("/history", 50, history_ms * 2.0), ("/login", 50, 40.0)],
            ..Second::default()
        });
        for r in &mut report.requests {
            let n = r.requests;
            let (response, db) = if r.name == "/history" {
                (history_ms, history_db_ms)
            } else {
                (20.0, 0.2)
            };
            let us = |ms: f64| (ms * 1000.0 * n as f64) as u64;
            r.server_timing = ServerTimingStats::from_sums_us(n, us(response), us(db), 0, 0);
        }
        report
    }

    #[test]
    fn a_query_that_takes_most_of_an_endpoints_time_is_named() {
        let report = report(90.0, 80.0);
        let f =
            slow_query(&FindingsInput::new(&report), &FindingsConfig::default()).expect("finding");
        assert_eq!(
            f.title,
            "GET /history is slow in the database: 80 ms of queries per request"
        );
        // 80 ms of the 90 + 20 ms per pair of requests.
        assert!(
            f.summary.contains("73 % of all request time"),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains("89 % of its response time"),
            "{}",
            f.summary
        );
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.next_step.contains("index"), "{}", f.next_step);
        assert!(f.evidence.iter().all(|e| !e.unit.is_empty()));
        let contrast = f
            .evidence
            .iter()
            .find(|e| e.label.starts_with("other endpoints"))
            .unwrap();
        assert!((contrast.value - 0.2).abs() < 1e-9, "{contrast:?}");
    }

    #[test]
    fn fast_queries_are_not_slow_whatever_their_share() {
        // A healthy endpoint that is mostly its (fast) query: 0.8 of 1 ms.
        let report = report(1.0, 0.8);
        assert!(slow_query(&FindingsInput::new(&report), &FindingsConfig::default()).is_none());
    }

    #[test]
    fn slow_work_outside_the_database_is_not_a_slow_query() {
        // 200 ms responses with 30 ms of queries: the time goes elsewhere.
        let report = report(200.0, 30.0);
        assert!(slow_query(&FindingsInput::new(&report), &FindingsConfig::default()).is_none());
    }

    #[test]
    fn without_server_timing_nothing_is_said() {
        let mut report = report(90.0, 80.0);
        for r in &mut report.requests {
            r.server_timing = None;
        }
        assert!(slow_query(&FindingsInput::new(&report), &FindingsConfig::default()).is_none());
    }
}
