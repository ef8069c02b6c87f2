//! The end-of-run summary on the terminal: the headline (total requests, failure rate, P95)
//! and the per-request table, plus thresholds and failures.

use std::fmt::Write as _;

use cicada_render::format::or_dash;
use cicada_report::RunReport;
use cicada_report::analysis_model::{Finding, ProcessSeries, Severity};
use cicada_report::model::one_line;

/// Width of the per-request table (it fits a 110-column terminal).
pub const TABLE_WIDTH: usize = 110;

/// The summary text; `table` adds the per-request table and failure groups.
pub fn render(report: &RunReport, table: bool) -> String {
    let mut out = String::new();
    let a = &report.aggregated;
    // Users that never got past on_start come first: nothing below measured their tasks.
    if let Some(line) = report.users.as_ref().and_then(|u| u.headline()) {
        let _ = writeln!(out, "\nUSERS NEVER STARTED: {line}");
    }
    if table {
        let _ = writeln!(
            out,
            "\n{:<6} {:<32} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Type", "Name", "# reqs", "# fails", "Avg", "Min", "Max", "P50", "P95", "req/s"
        );
        let _ = writeln!(out, "{}", "-".repeat(TABLE_WIDTH));
        let rows = report.requests.iter().chain(std::iter::once(a));
        for r in rows {
            let name = match &r.user_type {
                Some(t) if report.run.user_types.len() > 1 => format!("{} [{}]", r.name, t),
                _ => r.name.clone(),
            };
            // A row that measured nothing (its requests were never sent) reads "—", never 0.0.
            let ms = |v: f64| or_dash(r.measured(), v, |v| format!("{v:.1}"));
            let _ = writeln!(
                out,
                "{:<6} {:<32} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.1}",
                r.method,
                truncate(&name, 32),
                r.requests,
                r.failures,
                ms(r.mean_ms),
                ms(r.min_ms),
                ms(r.max_ms),
                ms(r.percentiles.p50),
                ms(r.percentiles.p95),
                r.rps
            );
        }
        server_timing(&mut out, report);
        if !report.failures.is_empty() {
            let _ = writeln!(out, "\nFailures:");
            for f in report.failures.iter().take(20) {
                let _ = writeln!(
                    out,
                    "  {:>7}x {}: {}",
                    f.occurrences,
                    f.request(),
                    f.message
                );
                if let Some(excerpt) = f.body_excerpt.as_deref().map(one_line) {
                    let _ = writeln!(
                        out,
                        "           body: {}",
                        if excerpt.is_empty() {
                            "(empty)"
                        } else {
                            &excerpt
                        }
                    );
                }
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
    analysis(&mut out, report);
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
        "\nTotal requests: {}, failure rate: {:.2}%, P95: {}, {:.1} req/s over {:.1}s",
        a.requests,
        a.failure_ratio * 100.0,
        or_dash(a.measured(), a.percentiles.p95, |v| format!("{v:.1} ms")),
        a.rps,
        report.run.duration_s,
    );
    let _ = writeln!(out, "{}", verdict_line(report));
    out
}

/// `FAILED: 50 of 50 requests failed; no threshold allows failed requests` — the verdict the
/// engine decided, in the words of every other front end (HTML banner, JUnit).
pub fn verdict_line(report: &RunReport) -> String {
    let v = &report.verdict;
    let line = format!("{}: {}", v.label(), v.reason_text());
    if report.run.interrupted {
        format!("INTERRUPTED (results partial; so far {line})")
    } else {
        line
    }
}

/// Where the target says its time went (`Server-Timing`), for the rows that carried it.
fn server_timing(out: &mut String, report: &RunReport) {
    let rows: Vec<_> = report
        .requests
        .iter()
        .chain(std::iter::once(&report.aggregated))
        .filter_map(|r| r.server_timing.as_ref().map(|st| (r, st)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nServer-Timing (the target's own account):\n{:<6} {:<32} {:>10} {:>9} {:>10} {:>12}",
        "Type", "Name", "responses", "DB share", "DB ms", "pool wait ms"
    );
    for (r, st) in rows {
        let _ = writeln!(
            out,
            "{:<6} {:<32} {:>10} {:>8.1}% {:>10.2} {:>12.2}",
            r.method,
            truncate(&r.name, 32),
            st.responses,
            st.db_share * 100.0,
            st.db_mean_ms,
            st.pool_wait_mean_ms
        );
    }
}

/// The ranked findings (one line each, with evidence and window) and the scaling checks.
fn analysis(out: &mut String, report: &RunReport) {
    let Some(a) = &report.analysis else { return };
    if let Some(t) = a.resources.as_ref().and_then(|r| r.target.as_ref()) {
        target_line(out, t);
    }
    if !a.findings.is_empty() {
        let _ = writeln!(out, "\nFindings (most important first):");
        for (i, f) in a.findings.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, finding_line(f));
            let _ = writeln!(out, "     next: {}", f.next_step);
        }
    }
    if let Some(s) = &a.scaling {
        let _ = writeln!(
            out,
            "\nAuto-scaling ({}): {}",
            s.probe,
            if s.passed { "PASS" } else { "FAIL" }
        );
        for c in &s.checks {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.reason
            );
        }
    }
}

/// `Target (pid 4107, its process tree): 1 core allowed (affinity 0) — used 98 % of it at
/// peak, 71 % on average`, and the restarts seen in its tree.
fn target_line(out: &mut String, t: &ProcessSeries) {
    let scope = if t.tree { ", its process tree" } else { "" };
    let _ = writeln!(
        out,
        "\nTarget (pid {}{scope}): {}",
        t.pid,
        t.cpu_limit_line()
    );
    for r in &t.restarts {
        let _ = writeln!(
            out,
            "  restarted: {} pid {} exited after {:.0} s, pid {} running at {:.0} s",
            r.name, r.old_pid, r.exited_after_s, r.new_pid, r.restarted_at_s
        );
    }
    if let Some(why) = &t.ended {
        let _ = writeln!(out, "  sampling stopped: {why}");
    }
}

/// `[critical] Target is CPU-bound — target CPU (mean) 97.0 %, ... (12–40 s)`.
fn finding_line(f: &Finding) -> String {
    let severity = match f.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let evidence: Vec<String> = f
        .evidence
        .iter()
        .map(|e| {
            format!("{} {} {}", e.label, number(e.value), e.unit)
                .trim_end()
                .to_string()
        })
        .collect();
    let mut line = format!("[{severity}] {}", f.title);
    if !evidence.is_empty() {
        line.push_str(" — ");
        line.push_str(&evidence.join(", "));
    }
    if let Some(w) = &f.window {
        let _ = write!(line, " ({:.0}–{:.0} s)", w.start_s, w.end_s);
    }
    line
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `s` in at most `n` characters: a long name keeps its start and (mostly) its end, which is
/// where request paths differ (`/api/v1/a…/{{agent_id}}/executions`).
fn truncate(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    let head = (n - 1) / 3;
    let tail = n - 1 - head;
    let mut t: String = s.chars().take(head).collect();
    t.push('…');
    t.extend(s.chars().skip(count - tail));
    t
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_names_keep_their_start_and_end() {
        assert_eq!(truncate("/short", 32), "/short");
        let a = truncate("/api/v1/agent-studio/agents/{{agent_id}}/executions", 32);
        let b = truncate("/api/v1/agent-studio/agents/{{agent_id}}/metrics", 32);
        assert_eq!(a.chars().count(), 32);
        assert_eq!(a, "/api/v1/ag…agent_id}}/executions");
        assert!(
            b.ends_with("}}/metrics") && b.starts_with("/api/v1/ag…"),
            "{b}"
        );
    }
}
