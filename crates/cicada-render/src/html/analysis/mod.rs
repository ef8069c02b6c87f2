//! The analysis parts of the page, drawn from [`cicada_report::analysis_model::Analysis`]: the
//! generator-health banner, ranked findings, resources, the target's scraped metrics, the
//! capacity search and the auto-scaling checks. Each section appears only when its data exists.

mod capacity;
mod findings;
mod metrics;
mod resources;
mod scaling;

use crate::format::{fmt_bytes, fmt_duration, fmt_ms, fmt_num, fmt_pct, fmt_rate};
use crate::svg::{Axis, Band, TickFormat};
use cicada_report::analysis_model::{Analysis, TimeWindow};
use cicada_report::model::RunReport;

use super::Section;

pub use capacity::usl_throughput;
pub use findings::generator_banner;

/// The analysis sections of a report, by where they go on the page.
pub struct AnalysisSections {
    /// Right after the headline numbers: the ranked findings.
    pub top: Vec<Section>,
    /// After the response-time charts: resources, target metrics, capacity, auto-scaling.
    pub after_charts: Vec<Section>,
}

/// Every analysis section the report has data for.
pub fn sections(r: &RunReport) -> AnalysisSections {
    let mut out = AnalysisSections {
        top: Vec::new(),
        after_charts: Vec::new(),
    };
    let Some(a) = r.analysis.as_ref() else {
        return out;
    };
    out.top.extend(findings::section(a));
    out.after_charts.extend(resources::section(a));
    out.after_charts.extend(metrics::section(a));
    out.after_charts.extend(capacity::section(a));
    out.after_charts.extend(scaling::section(r, a));
    out
}

/// The time axis every analysis chart over the run shares.
fn elapsed_axis() -> Axis {
    Axis::linear("Elapsed time", TickFormat::Elapsed)
}

/// Shaded bands over the seconds the load generator could not keep up.
pub fn generator_bands(a: &Analysis) -> Vec<Band> {
    a.generator_health
        .iter()
        .filter(|h| !h.healthy)
        .flat_map(|h| h.affected.iter())
        .map(|w| Band {
            from: w.start_s,
            to: w.end_s,
            label: format!("Load generator overloaded {}", window_text(w)),
        })
        .collect()
}

/// Seconds since the start as a clock: `0:42`, `12:05`, `1:02:03`.
fn clock(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "–".to_owned();
    }
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A window as `0:38–0:44 (6s)`.
fn window_text(w: &TimeWindow) -> String {
    format!(
        "{}–{} ({})",
        clock(w.start_s),
        clock(w.end_s),
        fmt_duration(w.duration_s())
    )
}

/// A number in its unit, with the precision the unit reads best in.
fn value_text(v: f64, unit: &str) -> String {
    match unit {
        "ms" => fmt_ms(v),
        "%" => fmt_pct(v),
        "bytes" | "B" => fmt_bytes(v),
        "bytes/s" => format!("{}/s", fmt_bytes(v)),
        "bytes/min" => format!("{}/min", fmt_bytes(v)),
        "/s" => format!("{} /s", fmt_rate(v)),
        "s" => fmt_duration(v),
        "" => fmt_num(v),
        u => format!("{} {u}", fmt_num(v)),
    }
}

/// Mean and maximum of the finite values (`None` when there are none).
fn mean_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut n, mut sum, mut max) = (0usize, 0.0, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        n += 1;
        sum += v;
        max = max.max(v);
    }
    (n > 0).then(|| (sum / n as f64, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_windows_and_values() {
        assert_eq!(clock(42.4), "0:42");
        assert_eq!(clock(3723.0), "1:02:03");
        assert_eq!(window_text(&TimeWindow::new(38.0, 44.0)), "0:38–0:44 (6s)");
        assert_eq!(value_text(312.4, "ms"), "312 ms");
        assert_eq!(value_text(97.5, "%"), "97.5%");
        assert_eq!(value_text(1536.0, "bytes/s"), "1.5 KiB/s");
        assert_eq!(value_text(35.0, "users"), "35 users");
        assert_eq!(mean_max([1.0, f64::NAN, 3.0].into_iter()), Some((2.0, 3.0)));
        assert_eq!(mean_max(std::iter::empty()), None);
    }
}
