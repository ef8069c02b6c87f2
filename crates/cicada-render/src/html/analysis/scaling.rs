//! `--scaling-probe`: load, replicas and p95 on one timeline (stacked panels sharing the time
//! axis), and the named auto-scaling checks.

use std::fmt::Write as _;

use super::{Section, elapsed_axis, value_text};
use crate::escape::escape;
use crate::format::fmt_count;
use crate::html::figure_panels;
use crate::svg::{Axis, LineChart, RenderOptions, Series, TickFormat, color};
use cicada_report::analysis_model::{Analysis, ScalingCheck, ScalingReport};
use cicada_report::model::{LoadModel, RunReport};

/// Height of each stacked panel's plot.
const PANEL_HEIGHT: f64 = 110.0;

fn check_title(name: &str) -> String {
    match name {
        "scale_out_reaction" => "Scale-out reaction".into(),
        "reach_needed_count" => "Reach the needed count".into(),
        "slo_recovery" => "SLO recovery".into(),
        "scale_in" => "Scale-in".into(),
        "no_flapping" => "No flapping".into(),
        "errors_during_scaling" => "Errors during scaling".into(),
        other => {
            let text = other.replace('_', " ");
            let mut chars = text.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// The auto-scaling section, when a scaling probe ran.
pub fn section(r: &RunReport, a: &Analysis) -> Option<Section> {
    let s = a.scaling.as_ref()?;
    let failed = s.checks.iter().filter(|c| !c.passed).count();
    let skipped = s.checks.iter().filter(|c| c.skipped && c.passed).count();
    let passed = s.checks.len() - failed - skipped;
    let (class, badge) = if s.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let mut counts = vec![format!("{passed} passed")];
    if failed > 0 {
        counts.insert(0, format!("{failed} failed"));
    }
    if skipped > 0 {
        counts.push(format!("{skipped} skipped (nothing to judge)"));
    }
    let mut b = format!(
        "<p class=\"note\"><span class=\"pill {class}\">{badge}</span> {} checks: {} · probe <code>{}</code> · {} failed readings</p>\n",
        s.checks.len(),
        counts.join(", "),
        escape(&s.probe),
        fmt_count(s.probe_failures)
    );
    b.push_str("<div class=\"scaling\">\n");
    timeline(&mut b, r, s);
    checks_table(&mut b, &s.checks);
    b.push_str("</div>\n");
    Some(Section {
        id: "scaling".into(),
        title: "Auto-scaling".into(),
        body_html: b,
    })
}

fn timeline(b: &mut String, r: &RunReport, s: &ScalingReport) {
    let t = &s.timeline;
    let end = t.iter().map(|p| p.elapsed_s).fold(1.0f64, f64::max);
    let x = Axis {
        max: Some(end),
        ..elapsed_axis()
    };
    let load_label = match r.run.plan.model {
        LoadModel::Closed => "Users",
        LoadModel::Open => "Iterations/s",
    };
    let panel = |title: &str, y: Axis, series: Series| LineChart {
        title: title.to_owned(),
        x: x.clone(),
        y,
        series: vec![series],
    };
    let mut load = Series::new(
        load_label,
        color(0),
        t.iter().map(|p| (p.elapsed_s, p.load)).collect(),
    );
    load.fill = true;
    let replicas = Series::new(
        "Replicas (probe)",
        color(2),
        t.iter()
            .map(|p| (p.elapsed_s, p.replicas.unwrap_or(f64::NAN)))
            .collect(),
    );
    let p95 = Series::new(
        "p95",
        color(3),
        t.iter()
            .map(|p| {
                (
                    p.elapsed_s,
                    if p.p95_ms > 0.0 { p.p95_ms } else { f64::NAN },
                )
            })
            .collect(),
    );
    let opts = RenderOptions {
        plot_height: PANEL_HEIGHT,
        ..RenderOptions::default()
    };
    let mut panels = vec![
        (
            panel(
                &format!("{load_label} over time"),
                Axis::linear(load_label, TickFormat::Number),
                load,
            ),
            opts.clone(),
        ),
        (
            panel(
                "Replicas over time",
                Axis::linear("Replicas", TickFormat::Number),
                replicas,
            ),
            opts.clone(),
        ),
        (
            panel(
                "p95 response time over time",
                Axis::linear("p95", TickFormat::Millis),
                p95,
            ),
            opts.clone(),
        ),
    ];
    if t.iter().any(|p| p.errors > 0) {
        let errors = Series::new(
            "Errors",
            "#d62728",
            t.iter().map(|p| (p.elapsed_s, p.errors as f64)).collect(),
        );
        panels.push((
            panel(
                "Errors per second",
                Axis::linear("Errors/s", TickFormat::Number),
                errors,
            ),
            opts,
        ));
    }
    figure_panels(
        b,
        "Scaling timeline",
        "Load, the probe's replica count and p95 each second, on one time axis; gaps: the probe or the requests gave no reading.",
        &panels,
    );
}

fn checks_table(b: &mut String, checks: &[ScalingCheck]) {
    b.push_str(
        "<div class=\"table-wrap\"><table class=\"scaling-checks\"><thead><tr><th>Result</th>\
         <th>Check</th><th class=\"num\">Measured</th><th class=\"num\">Limit</th><th>Reason</th>\
         </tr></thead><tbody>",
    );
    for c in checks {
        let (class, label) = match (c.skipped, c.passed) {
            (true, _) => ("kind", "skipped"),
            (false, true) => ("pass", "pass"),
            (false, false) => ("fail", "FAIL"),
        };
        let num = |v: Option<f64>| v.map_or("–".to_owned(), |v| value_text(v, &c.unit));
        let _ = write!(
            b,
            "<tr><td><span class=\"pill {class}\">{label}</span></td><td>{}<span class=\"ut\"><code>{}</code></span></td>\
             <td class=\"num{}\">{}</td><td class=\"num\">{}</td><td class=\"msg-plain\">{}</td></tr>",
            escape(&check_title(&c.name)),
            escape(&c.name),
            if c.passed { "" } else { " bad" },
            escape(&num(c.measured)),
            escape(&num(c.limit)),
            escape(&c.reason)
        );
    }
    if checks.is_empty() {
        b.push_str("<tr><td colspan=\"5\" class=\"empty\">No checks were run.</td></tr>");
    }
    b.push_str("</tbody></table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::check_title;

    #[test]
    fn check_names_read_as_titles() {
        assert_eq!(check_title("scale_in"), "Scale-in");
        assert_eq!(check_title("custom_check"), "Custom check");
        assert_eq!(check_title(""), "");
    }
}
