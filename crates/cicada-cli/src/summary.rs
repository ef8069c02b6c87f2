//! The end-of-run summary on the terminal: the headline (total requests, failure rate, P95)
//! and the per-request table, plus thresholds and failures.

use std::fmt::Write as _;

use cicada_report::RunReport;

/// The summary text; `table` adds the per-request table and failure groups.
pub fn render(report: &RunReport, table: bool) -> String {
    let mut out = String::new();
    let a = &report.aggregated;
    if table {
        let _ = writeln!(
            out,
            "\n{:<7} {:<44} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "Type", "Name", "# reqs", "# fails", "Avg", "Min", "Max", "P50", "P95", "req/s"
        );
        let _ = writeln!(out, "{}", "-".repeat(130));
        let rows = report.requests.iter().chain(std::iter::once(a));
        for r in rows {
            let name = match &r.user_type {
                Some(t) if report.run.user_types.len() > 1 => format!("{} [{}]", r.name, t),
                _ => r.name.clone(),
            };
            let _ = writeln!(
                out,
                "{:<7} {:<44} {:>9} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.1}",
                r.method,
                truncate(&name, 44),
                r.requests,
                r.failures,
                r.mean_ms,
                r.min_ms,
                r.max_ms,
                r.percentiles.p50,
                r.percentiles.p95,
                r.rps
            );
        }
        if !report.failures.is_empty() {
            let _ = writeln!(out, "\nFailures:");
            for f in report.failures.iter().take(20) {
                let _ = writeln!(
                    out,
                    "  {:>7}x {} {}: {}",
                    f.occurrences, f.method, f.name, f.message
                );
            }
        }
        if let Some(o) = &report.open_model {
            let _ = writeln!(
                out,
                "\nOpen model: {} scheduled, {} started, {} late, {} dropped; schedule lag p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                o.scheduled_iterations,
                o.started_iterations,
                o.late_iterations,
                o.dropped_iterations,
                o.schedule_lag_p50_ms,
                o.schedule_lag_p99_ms,
                o.schedule_lag_max_ms
            );
        }
    }
    if !report.thresholds.is_empty() {
        let _ = writeln!(out, "\nThresholds:");
        for t in &report.thresholds {
            let observed = t
                .observed
                .map_or_else(|| "no data".to_string(), |o| format!("{:.2}{}", o, t.unit));
            let _ = writeln!(
                out,
                "  {} {}  (measured {observed})",
                if t.passed { "PASS" } else { "FAIL" },
                t.expression
            );
        }
    }
    for w in &report.verdict.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "\nTotal requests: {}, failure rate: {:.2}%, P95: {:.1} ms, {:.1} req/s over {:.1}s — {}",
        a.requests,
        a.failure_ratio * 100.0,
        a.percentiles.p95,
        a.rps,
        report.run.duration_s,
        if report.run.interrupted {
            "INTERRUPTED"
        } else if report.verdict.passed {
            "PASSED"
        } else {
            "THRESHOLDS FAILED"
        }
    );
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
