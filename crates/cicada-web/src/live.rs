//! The per-second snapshot of the API and the stream, and the live page's markup.
//!
//! The page shows the report's own sections (`cicada_render::html::sections_with`) of the
//! partial report, rendered here once a second, and a headline rendered with the report's
//! number formatting: a number reads the same on the live page, in the final HTML report and in
//! the terminal, because one renderer draws them all.

use std::fmt::Write as _;

use cicada_render::escape;
use cicada_render::format::{fmt_bytes, fmt_count, fmt_ms, fmt_num, fmt_rate};
use cicada_report::RunReport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::controller::{Controller, RunState};
use crate::resources::ResourcesNow;

/// The run right now (`GET /api/snapshot`, and each event of `GET /api/stream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveSnapshot {
    pub state: RunState,
    /// The current or last run's number (0 before the first start).
    pub run: u64,
    /// `closed` (users) or `open` (arrival rate).
    pub model: String,
    /// Seconds since the run's traffic started (the last run's duration once stopped).
    pub elapsed_s: f64,
    /// Users alive (closed) or iterations in flight (open) now.
    pub users: u64,
    /// The last whole second: requests per second.
    pub rps: f64,
    /// The last whole second: failures per second.
    pub failures_per_s: f64,
    /// The last whole second's percentiles, in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Since the start (or the last reset).
    pub total_requests: u64,
    pub total_failures: u64,
    /// All requests by HTTP status since the start (or the last reset).
    pub status_codes: StatusCodesNow,
    /// All rows' checks since the start: evaluated and passed (0 and 0 without checks).
    pub checks_evaluated: u64,
    pub checks_passed: u64,
    /// The verdict so far: every threshold judged on the numbers so far.
    pub passed: Option<bool>,
    pub thresholds: Vec<ThresholdNow>,
    /// One row per request (Locust's columns).
    pub requests: Vec<RequestNow>,
    /// The generator's and the target's CPU and RSS now.
    pub resources: ResourcesNow,
    /// The analysis: the monitor's series and the ranked findings — so far during a run
    /// (redone every few seconds), final once the run stopped. `None` before the first one.
    pub analysis: Option<AnalysisNow>,
    /// The page's markup of this snapshot (only when asked for, `?html=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<LiveHtml>,
}

/// A threshold judged on the numbers so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThresholdNow {
    pub expression: String,
    pub passed: bool,
    pub observed: Option<f64>,
    pub unit: String,
}

/// One request row so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestNow {
    pub user_type: Option<String>,
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub avg_size_bytes: f64,
    pub current_rps: f64,
    pub current_failures_per_s: f64,
    /// Mean TCP (+TLS) connect time of the connections the row opened.
    pub connect_mean_ms: Option<f64>,
    /// Mean time to the first response byte.
    pub ttfb_mean_ms: Option<f64>,
    pub status_codes: StatusCodesNow,
    pub checks_evaluated: u64,
    pub checks_passed: u64,
}

/// Requests by HTTP status, and those that got none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusCodesNow {
    /// Ascending by status.
    pub codes: Vec<StatusNow>,
    /// Transport errors (connect, TLS, read, timeout) and requests that could not be sent.
    pub no_response: u64,
}

/// Responses with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusNow {
    pub status: u16,
    pub count: u64,
}

impl From<&cicada_report::model::StatusCodes> for StatusCodesNow {
    fn from(s: &cicada_report::model::StatusCodes) -> Self {
        Self {
            codes: s
                .codes
                .iter()
                .map(|c| StatusNow {
                    status: c.status,
                    count: c.count,
                })
                .collect(),
            no_response: s.no_response,
        }
    }
}

/// The analysis of the current (so far) or last (final) run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisNow {
    /// True during a run: the findings may still change.
    pub so_far: bool,
    /// Seconds of the run the series cover (the last sample's time).
    pub covers_s: f64,
    /// Samples of the generator's CPU and RSS so far (one a second).
    pub generator_samples: usize,
    /// Samples of the target's CPU and RSS so far (0 when no target is tracked).
    pub target_samples: usize,
    /// Scraped metric series (`--scrape`), 0 without a scrape.
    pub scraped_series: usize,
    /// The findings, highest ranked first (the full text is in the report).
    pub findings: Vec<FindingNow>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FindingNow {
    /// The rule, e.g. `target_cpu_bound` (see docs/analysis.md).
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub title: String,
    pub summary: String,
}

/// Server-rendered markup of a snapshot, for the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveHtml {
    /// The headline cards.
    pub headline: String,
    /// The report's verdict banner and its sections, as in the HTML report.
    pub report: String,
}

/// The snapshot of `controller` now; with the page's markup when `html`.
pub fn snapshot(controller: &Controller, html: bool) -> LiveSnapshot {
    let state = controller.state();
    let report = controller.report();
    let users = controller
        .users()
        .unwrap_or_else(|| report.as_ref().map_or(0, |r| last_users(r)));
    let elapsed_s = controller
        .elapsed()
        .map(|d| d.as_secs_f64())
        .or_else(|| report.as_ref().map(|r| r.run.duration_s))
        .unwrap_or(0.0);
    let model = if controller.is_open() {
        "open"
    } else {
        "closed"
    };
    let mut s = LiveSnapshot {
        state,
        run: controller.run_number(),
        model: model.to_owned(),
        elapsed_s,
        users,
        rps: 0.0,
        failures_per_s: 0.0,
        p50_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
        total_requests: 0,
        total_failures: 0,
        status_codes: StatusCodesNow::default(),
        checks_evaluated: 0,
        checks_passed: 0,
        passed: None,
        thresholds: Vec::new(),
        requests: Vec::new(),
        resources: controller.resources(),
        analysis: None,
        html: None,
    };
    let so_far = matches!(state, RunState::Running | RunState::Stopping);
    if let Some(r) = &report {
        fill(&mut s, r);
        s.analysis = analysis_now(r, so_far);
    }
    if html {
        s.html = Some(LiveHtml {
            headline: headline_html(&s),
            report: report
                .as_deref()
                .map(|r| report_html(r, so_far))
                .unwrap_or_default(),
        });
    }
    s
}

fn analysis_now(r: &RunReport, so_far: bool) -> Option<AnalysisNow> {
    let a = r.analysis.as_ref()?;
    let resources = a.resources.as_ref();
    let samples = |p: Option<&cicada_report::analysis_model::ProcessSeries>| {
        p.map_or((0, 0.0), |p| {
            (
                p.samples.len(),
                p.samples.last().map_or(0.0, |s| s.elapsed_s),
            )
        })
    };
    let generator = samples(resources.and_then(|r| r.generator.as_ref()));
    let target = samples(resources.and_then(|r| r.target.as_ref()));
    let name = |v: serde_json::Result<serde_json::Value>| {
        v.ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    Some(AnalysisNow {
        so_far,
        covers_s: generator.1.max(target.1),
        generator_samples: generator.0,
        target_samples: target.0,
        scraped_series: a.scraped.as_ref().map_or(0, |s| s.series.len()),
        findings: a
            .findings
            .iter()
            .map(|f| FindingNow {
                kind: name(serde_json::to_value(f.kind)),
                severity: name(serde_json::to_value(f.severity)),
                title: f.title.clone(),
                summary: f.summary.clone(),
            })
            .collect(),
    })
}

fn last_users(r: &RunReport) -> u64 {
    r.timeline.last().map_or(0, |t| t.users)
}

fn fill(s: &mut LiveSnapshot, r: &RunReport) {
    if let Some(last) = r.timeline.last() {
        s.rps = last.rps;
        s.failures_per_s = last.failures_per_s;
        s.p50_ms = last.percentiles.p50;
        s.p95_ms = last.percentiles.p95;
        s.p99_ms = last.percentiles.p99;
    }
    s.total_requests = r.aggregated.requests;
    s.total_failures = r.aggregated.failures;
    s.status_codes = (&r.aggregated.status_codes).into();
    let checks = r.aggregated.checks.unwrap_or_default();
    s.checks_evaluated = checks.evaluated;
    s.checks_passed = checks.passed;
    s.passed = (!r.thresholds.is_empty() || r.aggregated.requests > 0).then_some(r.verdict.passed);
    s.thresholds = r
        .thresholds
        .iter()
        .map(|t| ThresholdNow {
            expression: t.expression.clone(),
            passed: t.passed,
            observed: t.observed,
            unit: t.unit.clone(),
        })
        .collect();
    s.requests = r
        .requests
        .iter()
        .map(|q| RequestNow {
            user_type: q.user_type.clone(),
            method: q.method.clone(),
            name: q.name.clone(),
            requests: q.requests,
            failures: q.failures,
            median_ms: q.percentiles.p50,
            p95_ms: q.percentiles.p95,
            p99_ms: q.percentiles.p99,
            mean_ms: q.mean_ms,
            min_ms: q.min_ms,
            max_ms: q.max_ms,
            avg_size_bytes: q.avg_size_bytes,
            current_rps: q.current_rps,
            current_failures_per_s: q.current_failures_per_s,
            connect_mean_ms: q.connect_mean_ms,
            ttfb_mean_ms: q.ttfb_mean_ms,
            status_codes: (&q.status_codes).into(),
            checks_evaluated: q.checks.map_or(0, |c| c.evaluated),
            checks_passed: q.checks.map_or(0, |c| c.passed),
        })
        .collect();
}

/// The headline cards: users, RPS and failures per second, the last second's percentiles, and
/// the thresholds so far; the same card markup and number formatting as the HTML report.
pub fn headline_html(s: &LiveSnapshot) -> String {
    let users_label = if s.model == "open" {
        "In flight"
    } else {
        "Users"
    };
    let thresholds = if s.thresholds.is_empty() {
        ("none".to_owned(), String::new(), false)
    } else {
        let failed = s.thresholds.iter().filter(|t| !t.passed).count();
        (
            if failed == 0 { "pass" } else { "fail" }.to_owned(),
            format!("{} of {} failing so far", failed, s.thresholds.len()),
            failed > 0,
        )
    };
    let cpu_rss = |cpu: Option<f64>, rss: Option<u64>| match (cpu, rss) {
        (Some(c), Some(r)) => (
            format!("{} %", fmt_num(c)),
            format!("{} RSS", fmt_bytes(r as f64)),
        ),
        _ => ("–".to_owned(), "not tracked".to_owned()),
    };
    let generator = cpu_rss(
        s.resources.generator_cpu_pct,
        s.resources.generator_rss_bytes,
    );
    let target = cpu_rss(s.resources.target_cpu_pct, s.resources.target_rss_bytes);
    let cards: [(&str, &str, String, String, bool); 9] = [
        (
            "users",
            users_label,
            fmt_count(s.users),
            String::new(),
            false,
        ),
        (
            "rps",
            "RPS",
            fmt_rate(s.rps),
            format!("{} requests in all", fmt_count(s.total_requests)),
            false,
        ),
        (
            "failures",
            "Failures/s",
            fmt_rate(s.failures_per_s),
            format!("{} in all", fmt_count(s.total_failures)),
            s.failures_per_s > 0.0,
        ),
        ("p50", "p50", fmt_ms(s.p50_ms), "last second".into(), false),
        ("p95", "p95", fmt_ms(s.p95_ms), "last second".into(), false),
        ("p99", "p99", fmt_ms(s.p99_ms), "last second".into(), false),
        (
            "thresholds",
            "Thresholds",
            thresholds.0,
            thresholds.1,
            thresholds.2,
        ),
        (
            "generator",
            "Generator CPU",
            generator.0,
            generator.1,
            false,
        ),
        ("target", "Target CPU", target.0, target.1, false),
    ];
    let mut h = String::from("<div class=\"cards\">");
    for (key, label, value, extra, bad) in cards {
        let _ = write!(
            h,
            "<div class=\"card{}\" data-key=\"{key}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"extra\">{}</div></div>",
            if bad { " bad" } else { "" },
            escape(label),
            escape(&value),
            escape(&extra)
        );
    }
    h.push_str("</div>");
    h
}

/// The analysis sections whose content may change while a run goes on.
const SO_FAR_SECTIONS: [&str; 4] = ["findings", "resources", "target-metrics", "scaling"];

/// The report's header and sections of a (partial) report, as the HTML report draws them;
/// `so_far` (during a run) labels the analysis sections "so far".
pub fn report_html(r: &RunReport, so_far: bool) -> String {
    let mut h = cicada_render::html::header(r);
    for s in cicada_render::html::sections_with(r, &[]) {
        let mut title = s.title.clone();
        if so_far && SO_FAR_SECTIONS.contains(&s.id.as_str()) {
            title.push_str(" so far");
        }
        let _ = write!(
            h,
            "<section id=\"{}\">\n<h2>{}</h2>\n{}</section>\n",
            escape(&s.id),
            escape(&title),
            s.body_html
        );
    }
    h
}
