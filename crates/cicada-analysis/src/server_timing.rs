//! `Server-Timing` in the analysis: the per-second series the database rules read.
//!
//! The engine reads every response's `Server-Timing` header (`db`, `pool` and `app` entries,
//! as dryad sends `pool;dur=0.012, db;dur=1.204, app;dur=0.310`) into its sharded statistics;
//! the report carries the sums per request row and per second
//! ([`cicada_report::model::ServerTimingStats`]). This module turns the seconds into series;
//! the header parser is the engine's (`cicada::stats::server_timing`), the only one.

use cicada_report::RunReport;
use cicada_report::analysis_model::SeriesPoint;

/// Per second: the share (0..=1) of response time the target spent in its database — the sum
/// of `db` durations over the sum of the response times cicada measured, of the responses that
/// reported them. Seconds without such responses are left out.
pub fn db_share_series(report: &RunReport) -> Vec<SeriesPoint> {
    series(report, |t| t.db_share)
}

/// Per second: the mean time a response waited for a database connection (`pool`), in ms.
pub fn pool_wait_series(report: &RunReport) -> Vec<SeriesPoint> {
    series(report, |t| t.pool_wait_mean_ms)
}

fn series(
    report: &RunReport,
    value: impl Fn(&cicada_report::model::ServerTimingStats) -> f64,
) -> Vec<SeriesPoint> {
    report
        .timeline
        .iter()
        .filter_map(|s| {
            s.server_timing.as_ref().map(|t| SeriesPoint {
                elapsed_s: s.elapsed_s as f64,
                value: value(t),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::test_support::{ReportBuilder, Second};
    use cicada_report::model::ServerTimingStats;

    #[test]
    fn series_come_from_the_reports_seconds() {
        let mut report = ReportBuilder::ramp_and_hold(4, 2.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            ..Second::default()
        });
        // Seconds 2 and 4 reported: 10 responses of 20 ms with 5 ms db and 1 ms pool wait, then
        // 4 responses of 10 ms with 9 ms db and none.
        report.timeline[1].server_timing =
            ServerTimingStats::from_sums_us(10, 200_000, 50_000, 10_000, 0);
        report.timeline[3].server_timing = ServerTimingStats::from_sums_us(4, 40_000, 36_000, 0, 0);
        let at = |s: &[SeriesPoint]| s.iter().map(|p| (p.elapsed_s, p.value)).collect::<Vec<_>>();
        assert_eq!(at(&db_share_series(&report)), [(2.0, 0.25), (4.0, 0.9)]);
        assert_eq!(at(&pool_wait_series(&report)), [(2.0, 1.0), (4.0, 0.0)]);
    }
}
