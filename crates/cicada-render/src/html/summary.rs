//! The top of the page: title, verdict banner, headline numbers, and the run's metadata.

use std::fmt::Write as _;

use super::Section;
use crate::escape::escape;
use crate::format::{fmt_bytes, fmt_count, fmt_duration, fmt_ms, fmt_rate, fmt_ratio_pct, or_dash};
use cicada_report::model::{LoadModel, RunReport};

/// Title, verdict banner and headline cards.
pub fn header(r: &RunReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<h1>{}</h1>\n<p class=\"subtitle\">Load test of <code>{}</code> · {} · {}</p>\n",
        escape(&r.run.scenario),
        escape(&r.run.host),
        escape(&r.run.plan.description),
        escape(&r.run.started_at)
    );
    h.push_str(&verdict(r));
    h.push_str(&super::analysis::generator_banner(r));
    h.push_str(&cards(r));
    h
}

/// The verdict as the engine decided it (`cicada::verdict`): its badge and its reason, the same
/// words the terminal summary and JUnit show.
fn verdict(r: &RunReport) -> String {
    let v = &r.verdict;
    let (class, badge) = if v.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let headline = format!("{}: {}", v.label(), v.reason_text());
    let mut h = format!(
        "<div class=\"verdict {class}\" role=\"status\"><div class=\"badge\">{badge}</div><div class=\"headline\">{}</div>",
        escape(&headline)
    );
    let mut items = String::new();
    // Users that never got past on_start: the first thing to fix, said first.
    if let Some(line) = r.users.as_ref().and_then(|u| u.headline()) {
        let _ = write!(items, "<li class=\"never-started\">{}</li>", escape(&line));
    }
    for f in &v.failed {
        let _ = write!(items, "<li class=\"failed\">{}</li>", escape(f));
    }
    // The generator verdict has its own banner below; do not say it twice.
    let banner = r
        .analysis
        .as_ref()
        .and_then(|a| a.generator_health.as_ref())
        .filter(|h| !h.healthy)
        .map(|h| h.verdict.as_str());
    for w in v.warnings.iter().filter(|w| Some(w.as_str()) != banner) {
        let _ = write!(items, "<li class=\"warning\">Warning: {}</li>", escape(w));
    }
    if !items.is_empty() {
        let _ = write!(h, "<ul>{items}</ul>");
    }
    h.push_str("</div>\n");
    h
}

fn cards(r: &RunReport) -> String {
    let a = &r.aggregated;
    let ms = |v: f64| or_dash(a.measured(), v, fmt_ms);
    let peak_users = r.timeline.iter().map(|s| s.users).max().unwrap_or(0);
    let users_label = match r.run.plan.model {
        LoadModel::Closed => "Peak users",
        LoadModel::Open => "Peak in flight",
    };
    let items: [(&str, String, String, bool); 9] = [
        (
            "Requests",
            fmt_count(a.requests),
            fmt_bytes(a.total_bytes as f64),
            false,
        ),
        (
            "Failures",
            fmt_count(a.failures),
            format!("{} of requests", fmt_ratio_pct(a.failure_ratio)),
            a.failures > 0,
        ),
        (
            "Throughput",
            format!("{} /s", fmt_rate(a.rps)),
            "requests per second".into(),
            false,
        ),
        (
            "Median",
            ms(a.percentiles.p50),
            "p50 response time".into(),
            false,
        ),
        (
            "p95",
            ms(a.percentiles.p95),
            "95% were faster".into(),
            false,
        ),
        (
            "p99",
            ms(a.percentiles.p99),
            "99% were faster".into(),
            false,
        ),
        ("Max", ms(a.max_ms), format!("min {}", ms(a.min_ms)), false),
        (users_label, fmt_count(peak_users), String::new(), false),
        (
            "Duration",
            fmt_duration(r.run.duration_s),
            if r.run.interrupted {
                "interrupted".into()
            } else {
                String::new()
            },
            r.run.interrupted,
        ),
    ];
    let mut h = String::from("<div class=\"cards\">");
    for (label, value, extra, bad) in items {
        let _ = write!(
            h,
            "<div class=\"card{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"extra\">{}</div></div>",
            if bad { " bad" } else { "" },
            escape(label),
            escape(&value),
            escape(&extra)
        );
    }
    h.push_str("</div>\n");
    h
}

/// The run's metadata as a definition list.
pub fn run_section(r: &RunReport) -> Section {
    let run = &r.run;
    let plan = &run.plan;
    let m = &run.machine;
    let model = match plan.model {
        LoadModel::Closed => "closed (simulated users loop)",
        LoadModel::Open => "open (iterations at an arrival rate)",
    };
    let stages = plan
        .stages
        .iter()
        .map(|s| {
            format!(
                "{} → {}",
                fmt_duration(s.duration_s),
                crate::format::fmt_num(s.target)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut bounds = Vec::new();
    if let Some(t) = plan.run_time_s {
        bounds.push(format!("run time {}", fmt_duration(t)));
    }
    if let Some(i) = plan.iterations {
        bounds.push(format!("{} iterations", fmt_count(i)));
    }
    if let Some(s) = plan.spawn_rate {
        bounds.push(format!("spawn rate {}/s", crate::format::fmt_num(s)));
    }
    if let Some(c) = plan.max_concurrency {
        bounds.push(format!("max concurrency {}", fmt_count(c)));
    }
    let memory = m
        .memory_bytes
        .map_or("unknown".to_owned(), |b| fmt_bytes(b as f64));
    let user_types = run
        .user_types
        .iter()
        .map(|u| {
            format!(
                "{} (weight {}, peak {})",
                u.name,
                u.weight,
                fmt_count(u.peak_users)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let tags = if run.tags.is_empty() && run.exclude_tags.is_empty() {
        "all tasks".to_owned()
    } else {
        format!(
            "only [{}], excluding [{}]",
            run.tags.join(", "),
            run.exclude_tags.join(", ")
        )
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("Scenario", run.scenario.clone()),
        (
            "Scenario file",
            run.scenario_file.clone().unwrap_or_else(|| "–".into()),
        ),
        ("Target host", run.host.clone()),
        ("Load plan", plan.description.clone()),
        ("Load model", model.to_owned()),
        (
            "Stages",
            if stages.is_empty() {
                "–".into()
            } else {
                stages
            },
        ),
        (
            "Bounds",
            if bounds.is_empty() {
                "–".into()
            } else {
                bounds.join(", ")
            },
        ),
        (
            "Latency timing",
            if plan.co_corrected {
                "from each iteration's intended start (corrected for coordinated omission)".into()
            } else {
                "from each request's actual start (closed model: a stall shows as fewer requests)"
                    .into()
            },
        ),
        ("Started", run.started_at.clone()),
        ("Ended", run.ended_at.clone()),
        (
            "Duration",
            format!(
                "{}{}",
                fmt_duration(run.duration_s),
                if run.interrupted {
                    " (interrupted: partial results)"
                } else {
                    ""
                }
            ),
        ),
        ("Seed", run.seed.to_string()),
        (
            "User types",
            if user_types.is_empty() {
                "–".into()
            } else {
                user_types
            },
        ),
        ("Tags", tags),
        (
            "cicada version",
            format!("{} {}", r.tool.name, r.tool.version),
        ),
        (
            "Load generator",
            format!(
                "{} · {} · {} CPUs · {} memory · {} worker threads",
                m.hostname, m.os, m.cpus, memory, m.worker_threads
            ),
        ),
    ];
    if let Some(segment) = &run.segment {
        rows.push((
            "Execution segment",
            format!(
                "{segment} of a run split across several generators (this report holds that \
                 part of the load)"
            ),
        ));
    }
    if let Some(m) = &r.merged {
        let workers = m
            .workers
            .iter()
            .map(|w| match &w.live {
                None => format!("{} ({})", w.hostname, w.source),
                // A distributed run's worker: its state as the coordinator saw it.
                Some(l) => format!(
                    "{} {}, last seen at {:.0} s, {} requests",
                    w.source,
                    worker_state(l.status),
                    l.last_seen_s,
                    fmt_count(w.requests)
                ),
            })
            .collect::<Vec<_>>()
            .join(", ");
        rows.push((
            "Merged from",
            format!("{} reports: {workers}", fmt_count(m.reports)),
        ));
        if let Some(segments) = &m.segments {
            rows.push(("Segments", segments.clone()));
        }
        if !m.approximations.is_empty() {
            rows.push(("Not exact", m.approximations.join("; ")));
        }
    }
    let mut body = String::from("<dl class=\"meta\">");
    for (k, v) in rows {
        let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    body.push_str("</dl>\n");
    Section {
        id: "run".into(),
        title: "Run".into(),
        body_html: body,
    }
}

/// A distributed run's worker state, as the Run section says it.
fn worker_state(s: cicada_report::model::WorkerStatus) -> &'static str {
    use cicada_report::model::WorkerStatus;
    match s {
        WorkerStatus::Starting => "starting",
        WorkerStatus::Live => "live",
        WorkerStatus::Done => "done",
        WorkerStatus::Lost => "LOST (its data up to then is counted)",
        WorkerStatus::Failed => "FAILED to start",
    }
}
