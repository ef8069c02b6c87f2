//! Ranked bottleneck findings, and the banner that says when the load generator could not keep
//! up (so the results understate the target's capacity).

use std::fmt::Write as _;

use super::{Section, value_text, window_text};
use crate::escape::escape;
use cicada_report::analysis_model::{Analysis, Finding, FindingKind, Severity};
use cicada_report::model::RunReport;

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn kind_label(k: FindingKind) -> &'static str {
    match k {
        FindingKind::GeneratorSaturated => "load generator saturated",
        FindingKind::NoisyNeighbours => "other processes on the machine",
        FindingKind::TargetRestarted => "target restarted",
        FindingKind::WriteLockContention => "write-lock contention",
        FindingKind::AppQueue => "queue inside the application",
        FindingKind::ErrorsFromStart => "errors from the first request",
        FindingKind::ConcurrencyCapReached => "concurrency cap reached",
        FindingKind::NoBottleneck => "no bottleneck",
        FindingKind::TargetCpuBound => "target CPU-bound",
        FindingKind::DatabaseBound => "database-bound",
        FindingKind::SlowQuery => "slow query",
        FindingKind::ConnectionPoolSaturated => "connection pool saturated",
        FindingKind::QueueGrowth => "queue growth",
        FindingKind::ErrorOnset => "error onset",
        FindingKind::MemoryGrowth => "memory growth",
        FindingKind::SlowEndpoint => "slow endpoint",
        FindingKind::LatencyGrowth => "latency growth with load",
    }
}

/// The warning under the verdict when the generator was overloaded; empty otherwise.
pub fn generator_banner(r: &RunReport) -> String {
    let Some(h) = r
        .analysis
        .as_ref()
        .and_then(|a| a.generator_health.as_ref())
        .filter(|h| !h.healthy)
    else {
        return String::new();
    };
    let mut b = format!(
        "<div class=\"gen-health\" role=\"alert\"><div class=\"badge\">GENERATOR OVERLOADED</div>\
         <div class=\"headline\">{}</div>",
        escape(&h.verdict)
    );
    if !h.reasons.is_empty() {
        b.push_str("<ul>");
        for reason in &h.reasons {
            let _ = write!(b, "<li>{}</li>", escape(reason));
        }
        b.push_str("</ul>");
    }
    if !h.affected.is_empty() {
        let windows: Vec<String> = h.affected.iter().map(window_text).collect();
        let _ = write!(
            b,
            "<div class=\"affected\">Affected: {} (shaded in the charts over time and of resources).</div>",
            escape(&windows.join(", "))
        );
    }
    b.push_str("</div>\n");
    b
}

/// The findings, most important first; present when the findings rules ran.
pub fn section(a: &Analysis) -> Option<Section> {
    if a.findings.is_empty() && a.generator_health.is_none() {
        return None;
    }
    let mut b = String::new();
    if a.findings.is_empty() {
        b.push_str(
            "<p class=\"empty\">No bottleneck found: no rule fired on this run's numbers.</p>\n",
        );
    } else {
        b.push_str(
            "<p class=\"note\">What limited this run, most important first. Each finding shows \
             the numbers behind it, the part of the run it is about, and what to do next.</p>\n\
             <ol class=\"findings\">\n",
        );
        for (i, f) in a.findings.iter().enumerate() {
            b.push_str(&card(i + 1, f));
        }
        b.push_str("</ol>\n");
    }
    Some(Section {
        id: "findings".into(),
        title: "Findings".into(),
        body_html: b,
    })
}

fn card(rank: usize, f: &Finding) -> String {
    let sev = severity_label(f.severity);
    let mut c = format!(
        "<li class=\"finding {sev}\"><div class=\"finding-head\"><span class=\"rank\">{rank}</span>\
         <span class=\"pill sev {sev}\">{sev}</span><span class=\"ftitle\">{}</span>\
         <span class=\"fkind\">{}</span>",
        escape(&f.title),
        kind_label(f.kind)
    );
    if let Some(w) = &f.window {
        let _ = write!(
            c,
            "<span class=\"fwhen\">{}</span>",
            escape(&window_text(w))
        );
    }
    let _ = write!(c, "</div><p class=\"fsummary\">{}</p>", escape(&f.summary));
    if !f.evidence.is_empty() {
        c.push_str("<table class=\"evidence\"><tbody>");
        for e in &f.evidence {
            let _ = write!(
                c,
                "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"when\">{}</td></tr>",
                escape(&e.label),
                escape(&value_text(e.value, &e.unit)),
                e.window
                    .as_ref()
                    .map(|w| escape(&window_text(w)))
                    .unwrap_or_default()
            );
        }
        c.push_str("</tbody></table>");
    }
    let _ = writeln!(
        c,
        "<p class=\"next\"><strong>Next step:</strong> {}</p></li>",
        escape(&f.next_step)
    );
    c
}
