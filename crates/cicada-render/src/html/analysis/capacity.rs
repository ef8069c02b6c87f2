//! `cicada capacity`: the steps of the search, the headline, and the Universal Scalability Law
//! fit drawn over the measured throughput.

use std::fmt::Write as _;

use super::Section;
use crate::escape::escape;
use crate::format::{fmt_duration, fmt_ms_bare, fmt_num, fmt_rate, fmt_ratio_pct};
use crate::html::figure;
use crate::svg::{Axis, LineChart, Series, TickFormat, color};
use cicada_report::analysis_model::{Analysis, CapacityResult, LoadUnit, UslFit};

/// Points on the drawn USL curve.
const CURVE_POINTS: usize = 120;

fn load_name(u: LoadUnit) -> &'static str {
    match u {
        LoadUnit::Users => "users",
        LoadUnit::ArrivalRate => "iterations/s",
    }
}

/// `X(N) = λN / (1 + σ(N−1) + κN(N−1))`.
pub fn usl_throughput(fit: &UslFit, n: f64) -> f64 {
    fit.lambda * n / (1.0 + fit.sigma * (n - 1.0) + fit.kappa * n * (n - 1.0))
}

/// The capacity section, when the run was a capacity search.
pub fn section(a: &Analysis) -> Option<Section> {
    let c = a.capacity.as_ref()?;
    let mut b = format!(
        "<div class=\"capacity-headline\"><div class=\"value\">{}</div><div class=\"extra\">SLOs: {} · {}</div></div>\n",
        escape(&c.headline),
        escape(&c.slos.join(", ")),
        escape(&c.stop_reason)
    );
    b.push_str("<div class=\"charts\">\n");
    throughput_chart(&mut b, c);
    p95_chart(&mut b, c);
    b.push_str("</div>\n");
    usl_params(&mut b, c);
    steps_table(&mut b, c);
    Some(Section {
        id: "capacity".into(),
        title: "Capacity".into(),
        body_html: b,
    })
}

fn by_load(
    c: &CapacityResult,
    get: fn(&cicada_report::analysis_model::CapacityStep) -> f64,
) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = c.steps.iter().map(|s| (s.load, get(s))).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

fn throughput_chart(b: &mut String, c: &CapacityResult) {
    let unit = load_name(c.load_unit);
    // With a fit, its own points (concurrency N, measured): the steps the fit trusted, on the
    // axis the curve is drawn on. Without one, every step by its load.
    let (points, x_label, mut sub) = match &c.usl {
        Some(fit) => (
            fit.points
                .iter()
                .map(|p| (p.concurrency, p.measured))
                .collect(),
            match c.load_unit {
                LoadUnit::Users => "Concurrency (users)",
                LoadUnit::ArrivalRate => "Concurrency (iterations in flight)",
            }
            .to_owned(),
            "Dots: throughput measured in each healthy step. Line: the Universal Scalability \
             Law fitted to them."
                .to_owned(),
        ),
        None => (
            by_load(c, |s| s.throughput),
            format!("Load ({unit})"),
            format!("Throughput held at each load step ({unit})."),
        ),
    };
    let hi_measured = points
        .iter()
        .map(|p: &(f64, f64)| p.0)
        .fold(0.0f64, f64::max);
    let mut measured = Series::new("Measured", color(0), points);
    measured.markers = true;
    measured.line = false;
    let mut series = vec![measured];
    if let Some(fit) = &c.usl {
        // Draw to the peak when it is near, so the curve shows where throughput turns down.
        let hi = match fit.peak_concurrency {
            Some(n) if n.is_finite() && n > hi_measured && n <= 2.0 * hi_measured => n * 1.15,
            _ => hi_measured * 1.05,
        };
        let curve = (0..=CURVE_POINTS)
            .map(|i| {
                let n = 1.0 + (hi - 1.0).max(0.0) * i as f64 / CURVE_POINTS as f64;
                (n, usl_throughput(fit, n))
            })
            .collect();
        series.push(Series::new("USL fit", color(1), curve));
        if let Some(n) = fit.peak_concurrency.filter(|n| *n <= hi) {
            sub.push_str(&format!(" Peak at N* ≈ {}.", fmt_num(n)));
        }
    }
    let chart = LineChart {
        title: "Throughput against concurrency, measured and fitted".into(),
        x: Axis::linear(&x_label, TickFormat::Number),
        y: Axis::linear("Requests per second", TickFormat::Number),
        series,
    };
    figure(b, "Throughput vs concurrency", &sub, &chart);
}

fn p95_chart(b: &mut String, c: &CapacityResult) {
    let unit = load_name(c.load_unit);
    let mut p95 = Series::new("p95 per step", color(3), by_load(c, |s| s.p95_ms));
    p95.markers = true;
    let chart = LineChart {
        title: "p95 response time against load".into(),
        x: Axis::linear(&format!("Load ({unit})"), TickFormat::Number),
        y: Axis::linear("p95 response time", TickFormat::Millis),
        series: vec![p95],
    };
    figure(
        b,
        "p95 vs load",
        "Each step's p95 over its measured part (warm-up discarded).",
        &chart,
    );
}

fn usl_params(b: &mut String, c: &CapacityResult) {
    let Some(fit) = &c.usl else {
        if let Some(why) = &c.usl_error {
            let _ = writeln!(
                b,
                "<p class=\"note\">No Universal Scalability Law fit: {}</p>",
                escape(why)
            );
        }
        return;
    };
    let opt = |v: Option<f64>, f: fn(f64) -> String, none: &str| v.map_or(none.to_owned(), f);
    let rows = [
        ("σ (contention)", format!("{:.4}", fit.sigma)),
        ("κ (coherency)", format!("{:.6}", fit.kappa)),
        (
            "λ (throughput of one user)",
            format!("{} /s", fmt_rate(fit.lambda)),
        ),
        (
            "N* (peak concurrency)",
            opt(fit.peak_concurrency, fmt_num, "none (κ = 0: no peak)"),
        ),
        (
            "Predicted max throughput",
            opt(
                fit.predicted_max_throughput,
                |v| format!("{} /s", fmt_rate(v)),
                "unbounded (linear scaling)",
            ),
        ),
        ("R² of the fit", format!("{:.3}", fit.r_squared)),
    ];
    b.push_str("<dl class=\"meta usl\">");
    for (k, v) in rows {
        let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    b.push_str("</dl>\n");
}

fn steps_table(b: &mut String, c: &CapacityResult) {
    let _ = write!(
        b,
        "<div class=\"table-wrap\"><table class=\"steps\"><thead><tr><th class=\"num\">#</th>\
         <th class=\"num\">Load ({})</th><th class=\"num\">Warm-up</th><th class=\"num\">Measured</th>\
         <th class=\"num\">Throughput (/s)</th><th class=\"num\">p95 (ms)</th><th class=\"num\">Errors</th>\
         <th>Generator</th><th>Result</th><th>Violations</th></tr></thead><tbody>",
        load_name(c.load_unit)
    );
    for (i, s) in c.steps.iter().enumerate() {
        let (class, label) = if s.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let best = c.max_passing_load == Some(s.load) && s.passed;
        let _ = write!(
            b,
            "<tr{}><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num{}\">{}</td><td>{}</td><td><span class=\"pill {class}\">{label}</span></td>\
             <td class=\"msg-plain\">{}</td></tr>",
            if best { " class=\"best\"" } else { "" },
            i + 1,
            fmt_num(s.load),
            fmt_duration(s.warmup_discarded_s),
            fmt_duration(s.measured_s),
            fmt_rate(s.throughput),
            fmt_ms_bare(s.p95_ms),
            if s.error_rate > 0.0 { " bad" } else { "" },
            fmt_ratio_pct(s.error_rate),
            if s.generator_healthy {
                "kept up"
            } else {
                "<span class=\"bad\">overloaded</span>"
            },
            escape(&s.violations.join("; "))
        );
    }
    b.push_str("</tbody></table></div>\n");
}
