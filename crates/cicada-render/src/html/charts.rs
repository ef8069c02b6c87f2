//! The page's charts, built from the report's timeline and distributions.

use std::fmt::Write as _;

use super::{Section, name_html};
use crate::escape::escape;
use crate::format::fmt_ms_bare;
use crate::svg::{
    Axis, LineChart, RenderOptions, ScaleKind, Series, TickFormat, color, nines_upper,
};
use cicada_report::model::{DistributionPoint, Percentiles, RequestStats, RunReport};

const FAIL_COLOR: &str = "#d62728";

/// A request row's label: `"GET /agents"` (user type in brackets when there are several).
pub fn row_label(user_type: Option<&str>, method: &str, name: &str) -> String {
    let base = if method.is_empty() {
        name.to_owned()
    } else {
        format!("{method} {name}")
    };
    match user_type {
        Some(u) => format!("{base} [{u}]"),
        None => base,
    }
}

/// Append one chart card (caption, explanation, SVG) in the page's style.
pub fn figure(out: &mut String, title: &str, sub: &str, chart: &LineChart) {
    let _ = writeln!(
        out,
        "<figure class=\"chart-card\"><figcaption>{}<span class=\"sub\">{}</span></figcaption>{}</figure>",
        escape(title),
        escape(sub),
        chart.render()
    );
}

/// Append one chart card drawn with [`RenderOptions`] (plot height, shaded bands).
pub fn figure_with(
    out: &mut String,
    title: &str,
    sub: &str,
    chart: &LineChart,
    opts: &RenderOptions,
) {
    let _ = writeln!(
        out,
        "<figure class=\"chart-card\"><figcaption>{}<span class=\"sub\">{}</span></figcaption>{}</figure>",
        escape(title),
        escape(sub),
        chart.render_with(opts)
    );
}

/// Append one chart card of stacked panels that share a time axis (e.g. users, replicas and
/// p95): each panel keeps its own y axis, so no quantity is squashed by another's scale.
pub fn figure_panels(
    out: &mut String,
    title: &str,
    sub: &str,
    panels: &[(LineChart, RenderOptions)],
) {
    let _ = write!(
        out,
        "<figure class=\"chart-card panels\"><figcaption>{}<span class=\"sub\">{}</span></figcaption>",
        escape(title),
        escape(sub)
    );
    for (chart, opts) in panels {
        out.push_str(&chart.render_with(opts));
    }
    out.push_str("</figure>\n");
}

/// Users, throughput, response times and per-request p95 over the run.
pub fn timeline_section(r: &RunReport) -> Section {
    let t = &r.timeline;
    let x = |s: &cicada_report::model::IntervalSample| s.elapsed_s as f64;
    let elapsed = Axis::linear("Elapsed time", TickFormat::Elapsed);
    let gap = |has: bool, v: f64| if has { v } else { f64::NAN };

    let users_label = match r.run.plan.model {
        cicada_report::model::LoadModel::Closed => "Users",
        cicada_report::model::LoadModel::Open => "Iterations in flight",
    };
    let mut users = Series::new(
        users_label,
        color(0),
        t.iter().map(|s| (x(s), s.users as f64)).collect(),
    );
    users.fill = true;
    let users_chart = LineChart {
        title: format!("{users_label} over time"),
        x: elapsed.clone(),
        y: Axis::linear(users_label, TickFormat::Number),
        series: vec![users],
    };

    let throughput_chart = LineChart {
        title: "Requests and failures per second".into(),
        x: elapsed.clone(),
        y: Axis::linear("per second", TickFormat::Number),
        series: vec![
            Series::new(
                "Requests/s",
                color(0),
                t.iter().map(|s| (x(s), s.rps)).collect(),
            ),
            Series::new(
                "Failures/s",
                FAIL_COLOR,
                t.iter().map(|s| (x(s), s.failures_per_s)).collect(),
            ),
        ],
    };

    let pct_series = |label: &str, c: &'static str, get: fn(&Percentiles) -> f64| {
        Series::new(
            label,
            c,
            t.iter()
                .map(|s| (x(s), gap(s.requests > 0, get(&s.percentiles))))
                .collect(),
        )
    };
    let latency_chart = LineChart {
        title: "Response time percentiles per second".into(),
        x: elapsed.clone(),
        y: Axis::linear("Response time", TickFormat::Millis),
        series: vec![
            pct_series("p50", color(2), |p| p.p50),
            pct_series("p95", color(3), |p| p.p95),
            pct_series("p99", FAIL_COLOR, |p| p.p99),
        ],
    };

    let per_request: Vec<Series> = r
        .requests
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let points = t
                .iter()
                .map(|s| {
                    let v = s.by_request.iter().find(|b| {
                        b.name == row.name && b.method == row.method && b.user_type == row.user_type
                    });
                    match v {
                        Some(b) if b.requests > 0 => (x(s), b.p95_ms),
                        _ => (x(s), f64::NAN),
                    }
                })
                .collect();
            Series::new(
                &row_label(row.user_type.as_deref(), &row.method, &row.name),
                color(i),
                points,
            )
        })
        .collect();
    let per_request_chart = LineChart {
        title: "p95 response time per request".into(),
        x: elapsed,
        y: Axis::linear("p95 response time", TickFormat::Millis),
        series: per_request,
    };

    // Seconds the load generator could not keep up are shaded: their numbers are suspect.
    let opts = RenderOptions {
        bands: r
            .analysis
            .as_ref()
            .map(super::analysis::generator_bands)
            .unwrap_or_default(),
        ..RenderOptions::default()
    };
    let shaded = if opts.bands.is_empty() {
        ""
    } else {
        " Shaded: the load generator could not keep up."
    };
    let mut b = String::from("<div class=\"charts\">\n");
    figure_with(
        &mut b,
        users_label,
        &format!("At the end of each second.{shaded}"),
        &users_chart,
        &opts,
    );
    figure_with(
        &mut b,
        "Throughput",
        &format!("Requests and failures completed in each second.{shaded}"),
        &throughput_chart,
        &opts,
    );
    figure_with(
        &mut b,
        "Response times",
        &format!(
            "Percentiles of the requests completed in each second; gaps: no requests.{shaded}"
        ),
        &latency_chart,
        &opts,
    );
    figure_with(
        &mut b,
        "p95 per request",
        &format!("Each request name's p95 in each second.{shaded}"),
        &per_request_chart,
        &opts,
    );
    if let Some(chart) = database_chart(r) {
        figure_with(
            &mut b,
            "Database share",
            &format!(
                "From the target's Server-Timing headers: the share of response time spent in \
                 the database (db) and waiting for a connection (pool), per second; gaps: no \
                 response reported them.{shaded}"
            ),
            &chart,
            &opts,
        );
    }
    if let Some(schedule_chart) = schedule_chart(r) {
        figure(
            &mut b,
            "Arrival schedule",
            "Open model: iterations that started late (over 1 ms) or were dropped, per second.",
            &schedule_chart,
        );
    }
    b.push_str("</div>\n");
    Section {
        id: "timeline".into(),
        title: "Over time".into(),
        body_html: b,
    }
}

/// The database's and the pool wait's share of response time per second (`Server-Timing`),
/// when the target reported them.
fn database_chart(r: &RunReport) -> Option<LineChart> {
    let t = &r.timeline;
    if t.iter().all(|s| s.server_timing.is_none()) {
        return None;
    }
    let share = |get: fn(&cicada_report::model::ServerTimingStats) -> f64| {
        t.iter()
            .map(|s| {
                (
                    s.elapsed_s as f64,
                    s.server_timing
                        .as_ref()
                        .map_or(f64::NAN, |v| get(v) * 100.0),
                )
            })
            .collect()
    };
    Some(LineChart {
        title: "Share of response time in the database".into(),
        x: Axis::linear("Elapsed time", TickFormat::Elapsed),
        y: Axis::linear("% of response time", TickFormat::Number),
        series: vec![
            Series::new("db", color(4), share(|v| v.db_share)),
            Series::new("pool wait", FAIL_COLOR, share(|v| v.pool_share)),
        ],
    })
}

/// Late and dropped iterations per second, for an open-model run.
fn schedule_chart(r: &RunReport) -> Option<LineChart> {
    let t = &r.timeline;
    let recorded = t
        .iter()
        .any(|s| s.late_iterations.is_some() || s.dropped_iterations.is_some());
    if r.open_model.is_none() && !recorded {
        return None;
    }
    let series = |label: &str,
                  c: &'static str,
                  get: fn(&cicada_report::model::IntervalSample) -> Option<u64>| {
        Series::new(
            label,
            c,
            t.iter()
                .map(|s| (s.elapsed_s as f64, get(s).map_or(f64::NAN, |v| v as f64)))
                .collect(),
        )
    };
    Some(LineChart {
        title: "Late and dropped iterations per second".into(),
        x: Axis::linear("Elapsed time", TickFormat::Elapsed),
        y: Axis::linear("iterations per second", TickFormat::Number),
        series: vec![
            series("Late", color(3), |s| s.late_iterations),
            series("Dropped", FAIL_COLOR, |s| s.dropped_iterations),
        ],
    })
}

/// The curve of a row's latency distribution: its recorded points, or its percentiles.
fn curve(row: &RequestStats) -> Vec<(f64, f64)> {
    if !row.distribution.is_empty() {
        return row
            .distribution
            .iter()
            .map(|DistributionPoint { percentile, ms }| (*percentile, *ms))
            .collect();
    }
    if row.requests == 0 {
        return Vec::new();
    }
    let p = &row.percentiles;
    vec![
        (0.0, row.min_ms),
        (50.0, p.p50),
        (66.0, p.p66),
        (75.0, p.p75),
        (80.0, p.p80),
        (90.0, p.p90),
        (95.0, p.p95),
        (98.0, p.p98),
        (99.0, p.p99),
        (99.9, p.p99_9),
        (99.99, p.p99_99),
    ]
}

/// Percentile curves per request name on a "nines" axis.
pub fn distribution_section(r: &RunReport) -> Section {
    let mut series: Vec<Series> = r
        .requests
        .iter()
        .enumerate()
        .map(|(i, row)| {
            Series::new(
                &row_label(row.user_type.as_deref(), &row.method, &row.name),
                color(i),
                curve(row),
            )
        })
        .collect();
    let mut all = Series::new("All requests", "#1d2330", curve(&r.aggregated));
    all.dashed = true;
    series.push(all);

    let points = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite());
    let (lo, hi, max_pct) = points.fold((f64::INFINITY, 0.0f64, 0.0f64), |(lo, hi, mp), p| {
        (
            if p.1 > 0.0 { lo.min(p.1) } else { lo },
            hi.max(p.1),
            if p.0 < 100.0 { mp.max(p.0) } else { mp },
        )
    });
    // A wide spread (a slow tail) reads better on a logarithmic time axis.
    let y_kind = if lo.is_finite() && hi / lo > 50.0 {
        ScaleKind::Log10
    } else {
        ScaleKind::Linear
    };
    let chart = LineChart {
        title: "Response time distribution".into(),
        x: Axis {
            kind: ScaleKind::Nines,
            label: "Percentile (log scale of the tail: 90%, 99%, 99.9% … evenly spaced)".into(),
            format: TickFormat::Percentile,
            min: Some(0.0),
            max: Some(nines_upper(max_pct)),
        },
        y: Axis {
            kind: y_kind,
            label: if y_kind == ScaleKind::Log10 {
                "Response time (log)".into()
            } else {
                "Response time".into()
            },
            format: TickFormat::Millis,
            min: if y_kind == ScaleKind::Linear {
                Some(0.0)
            } else {
                None
            },
            max: None,
        },
        series,
    };
    let mut b = String::from(
        "<p class=\"note\">How slow the slowest requests were: a point (99%, 120 ms) means 99% of \
         requests took at most 120 ms. The tail is stretched so 99.9% and 99.99% are readable.</p>\n\
         <div class=\"dist\">\n",
    );
    figure(
        &mut b,
        "Response time by percentile",
        "Per request name; dashed: all requests.",
        &chart,
    );
    b.push_str(&tail_table(r));
    b.push_str("</div>\n");
    Section {
        id: "distribution".into(),
        title: "Response-time distribution".into(),
        body_html: b,
    }
}

/// The tail of each row's distribution as numbers, beside the chart.
fn tail_table(r: &RunReport) -> String {
    let mut t = String::from(
        "<div class=\"table-wrap\"><table class=\"tail\"><thead><tr><th>Request</th>\
         <th class=\"num\">p50 (ms)</th><th class=\"num\">p99 (ms)</th><th class=\"num\">p99.9 (ms)</th>\
         <th class=\"num\">p99.99 (ms)</th><th class=\"num\">Max (ms)</th></tr></thead><tbody>",
    );
    let row = |t: &mut String, label: &str, s: &RequestStats| {
        let p = &s.percentiles;
        let _ = write!(t, "<tr><td class=\"name\">{}</td>", name_html(label));
        for v in [p.p50, p.p99, p.p99_9, p.p99_99, s.max_ms] {
            let _ = write!(t, "<td class=\"num\">{}</td>", fmt_ms_bare(v));
        }
        t.push_str("</tr>");
    };
    for s in &r.requests {
        row(
            &mut t,
            &row_label(s.user_type.as_deref(), &s.method, &s.name),
            s,
        );
    }
    t.push_str("</tbody><tfoot>");
    row(&mut t, "All requests", &r.aggregated);
    t.push_str("</tfoot></table></div>\n");
    t
}
