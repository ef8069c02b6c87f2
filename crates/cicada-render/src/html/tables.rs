//! The page's tables: per-request statistics, failures, thresholds, open-model scheduling.

use std::fmt::Write as _;

use super::{Section, name_html};
use crate::escape::escape;
use crate::format::{
    fmt_count, fmt_ms, fmt_ms_bare, fmt_pct, fmt_rate, fmt_ratio_pct, one_line, or_dash,
};
use crate::junit::value_with_unit;
use cicada_report::model::{FailureKind, FailureRow, RequestStats, RunReport};

/// Locust's request table plus p95, p99 and p99.9, the mean connect and time-to-first-byte,
/// and the checks' pass rate when the scenario has checks; the aggregated row in the footer.
/// The headers are short enough for the table to fit a 1400 px window.
pub fn requests_section(r: &RunReport) -> Section {
    const HEAD: [(&str, bool); 18] = [
        ("Type", false),
        ("Name", false),
        ("# Requests", true),
        ("# Fails", true),
        ("Median (ms)", true),
        ("90%ile (ms)", true),
        ("95%ile (ms)", true),
        ("99%ile (ms)", true),
        ("99.9%ile (ms)", true),
        ("Average (ms)", true),
        ("Min (ms)", true),
        ("Max (ms)", true),
        ("Connect (ms)", true),
        ("TTFB (ms)", true),
        ("Avg size (bytes)", true),
        ("Current RPS", true),
        ("Current fails/s", true),
        ("Fail %", true),
    ];
    // Only when a row ran checks.
    let checks = r.aggregated.checks.is_some() || r.requests.iter().any(|row| row.checks.is_some());
    // Only when the target sent `Server-Timing` with `db` or `pool`.
    const TIMING_HEAD: [&str; 3] = ["DB share", "DB (ms)", "Pool wait (ms)"];
    let timing = r.aggregated.server_timing.is_some()
        || r.requests.iter().any(|row| row.server_timing.is_some());
    let mut b = String::from(
        "<p class=\"note\">One row per request name. Times are response times in milliseconds \
         over the whole run; \"Connect\" is the mean TCP (and TLS) connect time of the \
         connections the row opened, \"TTFB\" the mean time to the response's first byte; \
         \"Current\" rates are over the last complete second.",
    );
    if checks {
        b.push_str(
            " \"Checks\" is the share of the scenario's response checks that passed (hover for \
             the counts).",
        );
    }
    if timing {
        b.push_str(
            " From the target's <code>Server-Timing</code> headers: \"DB share\" is the share \
             of response time spent in the database (<code>db</code>), \"DB\" and \"Pool wait\" \
             the mean <code>db</code> and <code>pool</code> durations per response that \
             reported them.",
        );
    }
    b.push_str("</p>\n<div class=\"table-wrap\"><table class=\"requests\"><thead><tr>");
    for (h, num) in HEAD {
        let _ = write!(
            b,
            "<th{}>{}</th>",
            if num { " class=\"num\"" } else { "" },
            h
        );
    }
    if checks {
        b.push_str("<th class=\"num\">Checks</th>");
    }
    if timing {
        for h in TIMING_HEAD {
            let _ = write!(b, "<th class=\"num\">{h}</th>");
        }
    }
    b.push_str("</tr></thead><tbody>");
    for row in &r.requests {
        b.push_str(&request_row(row, checks, timing));
    }
    if r.requests.is_empty() {
        let _ = write!(
            b,
            "<tr><td colspan=\"{}\" class=\"empty\">No requests were made.</td></tr>",
            HEAD.len() + usize::from(checks) + if timing { TIMING_HEAD.len() } else { 0 }
        );
    }
    b.push_str("</tbody><tfoot>");
    b.push_str(&request_row(&r.aggregated, checks, timing));
    b.push_str("</tfoot></table></div>\n");
    Section {
        id: "requests".into(),
        title: "Requests".into(),
        body_html: b,
    }
}

fn request_row(s: &RequestStats, checks: bool, timing: bool) -> String {
    let p = &s.percentiles;
    let user_type = s
        .user_type
        .as_deref()
        .map(|u| format!("<span class=\"ut\">{}</span>", escape(u)))
        .unwrap_or_default();
    let fail_class = if s.failures > 0 { "num bad" } else { "num" };
    // A row that measured nothing (its requests were never sent) reads "—", never 0.
    let ms = |v: f64| or_dash(s.measured(), v, fmt_ms_bare);
    let cells = [
        ms(p.p50),
        ms(p.p90),
        ms(p.p95),
        ms(p.p99),
        ms(p.p99_9),
        ms(s.mean_ms),
        ms(s.min_ms),
        ms(s.max_ms),
        s.connect_mean_ms
            .map_or_else(|| "–".to_owned(), fmt_ms_bare),
        s.ttfb_mean_ms.map_or_else(|| "–".to_owned(), fmt_ms_bare),
        fmt_count(s.avg_size_bytes.round() as u64),
        fmt_rate(s.current_rps),
        fmt_rate(s.current_failures_per_s),
    ];
    let mut h = format!(
        "<tr><td>{}</td><td class=\"name\">{user_type}{}</td><td class=\"num\">{}</td><td class=\"{fail_class}\">{}</td>",
        escape(&s.method),
        name_html(&s.name),
        fmt_count(s.requests),
        fmt_count(s.failures)
    );
    for c in cells {
        let _ = write!(h, "<td class=\"num\">{}</td>", escape(&c));
    }
    let _ = write!(
        h,
        "<td class=\"{fail_class}\">{}</td>",
        fmt_ratio_pct(s.failure_ratio)
    );
    if checks {
        match s.checks {
            Some(c) => {
                let bad = c.passed < c.evaluated;
                let _ = write!(
                    h,
                    "<td class=\"num{}\" title=\"{} of {} checks passed\">{}</td>",
                    if bad { " bad" } else { "" },
                    fmt_count(c.passed),
                    fmt_count(c.evaluated),
                    pass_rate(c.passed, c.evaluated)
                );
            }
            None => h.push_str("<td class=\"num\">–</td>"),
        }
    }
    if timing {
        match &s.server_timing {
            Some(t) => {
                for c in [
                    fmt_ratio_pct(t.db_share),
                    fmt_ms_bare(t.db_mean_ms),
                    fmt_ms_bare(t.pool_wait_mean_ms),
                ] {
                    let _ = write!(h, "<td class=\"num\">{}</td>", escape(&c));
                }
            }
            None => h.push_str("<td class=\"num\">–</td>".repeat(3).as_str()),
        }
    }
    h.push_str("</tr>");
    h
}

/// `100%` only when every check passed; otherwise rounded down to 0.01 %, so a failure
/// never reads as 100 %.
pub(crate) fn pass_rate(passed: u64, evaluated: u64) -> String {
    if evaluated == 0 {
        return "–".to_owned();
    }
    if passed == evaluated {
        return "100%".to_owned();
    }
    let pct = (passed as f64 * 10_000.0 / evaluated as f64).floor() / 100.0;
    format!("{pct:.2}%")
}

fn kind_label(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Status => "status",
        FailureKind::Timeout => "timeout",
        FailureKind::Connection => "connection",
        FailureKind::Check => "check",
        FailureKind::Protocol => "protocol",
        FailureKind::Other => "other",
    }
}

/// A failure group's message, with the first bytes of its response body (escaped) below.
fn message_html(f: &FailureRow) -> String {
    let mut h = escape(&f.message);
    if let Some(excerpt) = f.body_excerpt.as_deref().map(one_line) {
        let _ = write!(
            h,
            "<div class=\"excerpt\" title=\"the first bytes of the response body\">{}</div>",
            if excerpt.is_empty() {
                "(empty body)".to_owned()
            } else {
                escape(&excerpt)
            }
        );
    }
    h
}

/// Failures grouped by request, kind and message.
pub fn failures_section(r: &RunReport) -> Section {
    let total: u64 = r.failures.iter().map(|f| f.occurrences).sum();
    let mut b = String::new();
    if r.failures.is_empty() {
        b.push_str("<p class=\"empty\">No request failed.</p>\n");
    } else {
        let _ = write!(
            b,
            "<p class=\"note\">{} failures in {} groups, most frequent first.</p>\n\
             <div class=\"table-wrap\"><table class=\"failures\"><thead><tr><th>Kind</th><th>Request</th>\
             <th>Message</th><th class=\"num\">Count</th><th class=\"num\">Share</th></tr></thead><tbody>",
            fmt_count(total),
            r.failures.len()
        );
        for f in &r.failures {
            let request = if f.method.is_empty() {
                f.name.clone()
            } else {
                format!("{} {}", f.method, f.name)
            };
            let share = if total > 0 {
                f.occurrences as f64 / total as f64 * 100.0
            } else {
                0.0
            };
            let user_type = f
                .user_type
                .as_deref()
                .map(|u| format!("<span class=\"ut\">{}</span>", escape(u)))
                .unwrap_or_default();
            let _ = write!(
                b,
                "<tr><td><span class=\"pill kind\">{}</span></td><td class=\"name\">{user_type}{}</td>\
                 <td class=\"msg\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                kind_label(f.kind),
                name_html(&request),
                message_html(f),
                fmt_count(f.occurrences),
                fmt_pct(share)
            );
        }
        b.push_str("</tbody></table></div>\n");
    }
    Section {
        id: "failures".into(),
        title: "Failures".into(),
        body_html: b,
    }
}

/// Every threshold with its measured value.
pub fn thresholds_section(r: &RunReport) -> Section {
    let mut b = String::new();
    if r.thresholds.is_empty() {
        b.push_str(
            "<p class=\"empty\">No thresholds were set. Add them in the scenario or with \
             <code>--threshold</code> to make this run pass or fail.</p>\n",
        );
    } else {
        b.push_str(
            "<div class=\"table-wrap\"><table class=\"thresholds\"><thead><tr><th>Result</th>\
             <th>Threshold</th><th>Applies to</th><th class=\"num\">Measured</th><th class=\"num\">Limit</th>\
             <th>Source</th></tr></thead><tbody>",
        );
        for t in &r.thresholds {
            let (class, label) = if t.passed {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let measured = t
                .observed
                .map_or("no data".to_owned(), |v| value_with_unit(v, &t.unit));
            let _ = write!(
                b,
                "<tr><td><span class=\"pill {class}\">{label}</span></td><td><code>{}</code></td>\
                 <td class=\"name\">{}</td><td class=\"num{}\">{}</td><td class=\"num\">{} {}</td><td>{}</td></tr>",
                escape(&t.expression),
                escape(t.scope.as_deref().unwrap_or("all requests")),
                if t.passed { "" } else { " bad" },
                escape(&measured),
                escape(&t.op),
                escape(&value_with_unit(t.limit, &t.unit)),
                escape(&t.source)
            );
        }
        b.push_str("</tbody></table></div>\n");
    }
    Section {
        id: "thresholds".into(),
        title: "Thresholds".into(),
        body_html: b,
    }
}

/// Scheduling statistics of an open-model (arrival-rate) run.
pub fn open_model_section(r: &RunReport) -> Option<Section> {
    let o = r.open_model.as_ref()?;
    let rows = [
        ("Scheduled iterations", fmt_count(o.scheduled_iterations)),
        ("Started iterations", fmt_count(o.started_iterations)),
        (
            "Late (started > 1 ms after intended)",
            fmt_count(o.late_iterations),
        ),
        (
            "Dropped (concurrency cap reached)",
            fmt_count(o.dropped_iterations),
        ),
        ("Schedule lag p50", fmt_ms(o.schedule_lag_p50_ms)),
        ("Schedule lag p99", fmt_ms(o.schedule_lag_p99_ms)),
        ("Schedule lag max", fmt_ms(o.schedule_lag_max_ms)),
        ("Peak iterations in flight", fmt_count(o.peak_concurrency)),
    ];
    let mut b = String::from(
        "<p class=\"note\">How well the generator kept to the arrival schedule. Late or dropped \
         iterations mean the generator, not only the target, limited the load.</p>\n<dl class=\"meta\">",
    );
    for (k, v) in rows {
        let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    b.push_str("</dl>\n");
    Some(Section {
        id: "open-model".into(),
        title: "Arrival schedule".into(),
        body_html: b,
    })
}
