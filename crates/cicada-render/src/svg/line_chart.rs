//! The line chart: series of (x, y) points drawn as SVG paths inside a framed plot area.

use std::fmt::Write as _;

use super::scale::{Scale, ScaleKind, elapsed_ticks, nice_upper};
use crate::escape::escape;
use crate::format::{fmt_ms, fmt_num};

const WIDTH: f64 = 760.0;
const PLOT_HEIGHT: f64 = 210.0;
const MARGIN_LEFT: f64 = 74.0;
const MARGIN_RIGHT: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 42.0;
const LEGEND_ROW: f64 = 18.0;
const LEGEND_TOP: f64 = 8.0;

/// How tick labels are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TickFormat {
    /// A plain number (`1.5k` for thousands).
    Number,
    /// Seconds of elapsed time, as `m:ss`.
    Elapsed,
    /// Milliseconds, with a unit.
    Millis,
    /// A percentile, as `99.9%`.
    Percentile,
}

/// One axis: its scale kind, label and domain (`None`: from the data).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub kind: ScaleKind,
    pub label: String,
    pub format: TickFormat,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Axis {
    /// A linear axis starting at zero, its top from the data.
    pub fn linear(label: &str, format: TickFormat) -> Self {
        Self {
            kind: ScaleKind::Linear,
            label: label.to_owned(),
            format,
            min: Some(0.0),
            max: None,
        }
    }
}

/// One line. A point with a non-finite `y` breaks the line (a gap, e.g. an interval without
/// requests).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    /// Shade the area under the line.
    pub fill: bool,
    pub dashed: bool,
    /// Draw a dot at each point (e.g. measurements beside a fitted curve).
    pub markers: bool,
    /// Join the points with a line (off: dots only, with `markers`).
    pub line: bool,
}

impl Series {
    pub fn new(label: &str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.to_owned(),
            color,
            points,
            fill: false,
            dashed: false,
            markers: false,
            line: true,
        }
    }
}

/// A shaded stretch of the x axis (e.g. seconds where the load generator could not keep up).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    /// Tooltip text (the SVG `<title>` of the shaded rectangle).
    pub label: String,
}

/// How a chart is drawn beyond its data: the plot's height and shaded bands.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Height of the plot area in SVG units (the width is fixed; the page scales both).
    pub plot_height: f64,
    pub bands: Vec<Band>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            plot_height: PLOT_HEIGHT,
            bands: Vec::new(),
        }
    }
}

/// A line chart. [`LineChart::render`] returns one `<svg>` element.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Accessible name of the chart (the SVG `<title>`).
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

impl LineChart {
    /// The chart as a self-contained `<svg class="chart">` element.
    pub fn render(&self) -> String {
        self.render_with(&RenderOptions::default())
    }

    /// The chart with a given plot height and shaded bands.
    pub fn render_with(&self, opts: &RenderOptions) -> String {
        let plot_h = opts.plot_height.max(40.0);
        let legend_rows = self.legend_layout().last().map_or(1, |(row, _, _)| row + 1);
        let top = LEGEND_TOP + legend_rows as f64 * LEGEND_ROW + 8.0;
        let height = top + plot_h + MARGIN_BOTTOM;
        let (x_lo, x_hi) = self.domain(&self.x, |p| p.0);
        let (y_lo, y_hi) = self.domain(&self.y, |p| p.1);
        let xs = Scale {
            kind: self.x.kind,
            lo: x_lo,
            hi: x_hi,
            px_lo: MARGIN_LEFT,
            px_hi: WIDTH - MARGIN_RIGHT,
        };
        let ys = Scale {
            kind: self.y.kind,
            lo: y_lo,
            hi: y_hi,
            px_lo: top + plot_h,
            px_hi: top,
        };

        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" preserveAspectRatio="xMidYMid meet"><title>{}</title>"#,
            escape(&self.title)
        );
        self.draw_axes(&mut svg, &xs, &ys, top, plot_h);
        draw_bands(&mut svg, &opts.bands, &xs, top, plot_h);
        let has_data = self
            .series
            .iter()
            .any(|s| s.points.iter().any(|p| finite(*p)));
        if has_data {
            svg.push_str(r#"<g class="plot">"#);
            for series in &self.series {
                draw_series(&mut svg, series, &xs, &ys);
            }
            svg.push_str("</g>");
            if self.x.format == TickFormat::Elapsed {
                self.draw_hover(&mut svg, &xs, top, plot_h);
            }
        } else {
            let _ = write!(
                svg,
                r#"<text class="no-data" x="{:.1}" y="{:.1}" text-anchor="middle">No data</text>"#,
                (MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2.0,
                top + plot_h / 2.0
            );
        }
        self.draw_legend(&mut svg);
        svg.push_str("</svg>");
        svg
    }

    /// Values on hover, without a script: one transparent column per second whose `<title>`
    /// lists every series' value there (a browser shows it as a tooltip; the live page shows it
    /// as it moves). Skipped past [`MAX_HOVER_COLUMNS`] seconds, where a column is under a pixel.
    fn draw_hover(&self, svg: &mut String, xs: &Scale, top: f64, plot_h: f64) {
        let mut at: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| finite(**p))
            .map(|p| p.0)
            .collect();
        at.sort_by(f64::total_cmp);
        at.dedup();
        if at.is_empty() || at.len() > MAX_HOVER_COLUMNS {
            return;
        }
        let by_x: Vec<std::collections::HashMap<u64, f64>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .filter(|p| finite(**p))
                    .map(|p| (p.0.to_bits(), p.1))
                    .collect()
            })
            .collect();
        svg.push_str(r#"<g class="hover">"#);
        for (i, &x) in at.iter().enumerate() {
            let px = xs.px(x);
            let left = if i == 0 {
                px - 4.0
            } else {
                (xs.px(at[i - 1]) + px) / 2.0
            };
            let right = if i + 1 == at.len() {
                px + 4.0
            } else {
                (px + xs.px(at[i + 1])) / 2.0
            };
            let mut text = tick_label(x, self.x.format);
            for (series, values) in self.series.iter().zip(&by_x) {
                if let Some(v) = values.get(&x.to_bits()) {
                    let value = match self.y.format {
                        TickFormat::Millis => fmt_ms(*v),
                        _ => fmt_num(*v),
                    };
                    let _ = write!(text, "\n{}: {value}", series.label);
                }
            }
            let _ = write!(
                svg,
                r#"<rect data-v="" x="{left:.1}" y="{top:.1}" width="{:.1}" height="{plot_h:.1}" fill="transparent"><title>{}</title></rect>"#,
                (right - left).max(0.5),
                escape(&text)
            );
        }
        svg.push_str("</g>");
    }

    fn domain(&self, axis: &Axis, get: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
        let values = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| finite(**p))
            .map(get);
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let lo = axis.min.unwrap_or(lo);
        let hi = axis.max.unwrap_or(hi);
        match axis.kind {
            // Time runs to the end of the data, not to a rounder number.
            ScaleKind::Linear if axis.format == TickFormat::Elapsed => {
                (lo, if hi > lo { hi } else { lo + 1.0 })
            }
            ScaleKind::Linear => {
                let hi = if axis.max.is_some() {
                    hi
                } else {
                    nice_upper(hi.max(lo), 5)
                };
                (lo, if hi > lo { hi } else { lo + 1.0 })
            }
            ScaleKind::Log10 => {
                let lo = 10f64.powf(lo.max(1e-3).log10().floor());
                let hi = 10f64.powf(hi.max(lo * 10.0).log10().ceil());
                (lo, hi)
            }
            ScaleKind::Nines => (lo.max(0.0), hi.max(lo + 1.0)),
        }
    }

    fn draw_axes(&self, svg: &mut String, xs: &Scale, ys: &Scale, top: f64, plot_height: f64) {
        let plot_h = plot_height;
        let bottom = top + plot_h;
        let (left, right) = (MARGIN_LEFT, WIDTH - MARGIN_RIGHT);
        svg.push_str(r#"<g class="axes">"#);
        for v in ys.ticks(5) {
            let y = ys.px(v);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{left:.1}" x2="{right:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 6.0,
                y + 4.0,
                tick_label(v, self.y.format)
            );
        }
        let x_ticks = if self.x.format == TickFormat::Elapsed && self.x.kind == ScaleKind::Linear {
            elapsed_ticks(xs.lo, xs.hi, 8)
        } else {
            xs.ticks(8)
        };
        for v in x_ticks {
            let x = xs.px(v);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{top:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 16.0,
                tick_label(v, self.x.format)
            );
        }
        let _ = write!(
            svg,
            r#"<rect class="frame" x="{left:.1}" y="{top:.1}" width="{:.1}" height="{plot_h:.1}"/>"#,
            right - left
        );
        let _ = write!(
            svg,
            r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (left + right) / 2.0,
            bottom + 36.0,
            escape(&self.x.label)
        );
        let _ = write!(
            svg,
            r#"<text class="axis-label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            escape(&self.y.label)
        );
        svg.push_str("</g>");
    }

    /// (row, x offset, series index) of each legend entry, wrapping across rows.
    fn legend_layout(&self) -> Vec<(usize, f64, usize)> {
        let mut out = Vec::new();
        let (mut row, mut x) = (0usize, MARGIN_LEFT);
        for (i, s) in self.series.iter().enumerate() {
            let w = 26.0 + s.label.chars().count() as f64 * 7.2 + 18.0;
            if x + w > WIDTH - MARGIN_RIGHT && x > MARGIN_LEFT {
                row += 1;
                x = MARGIN_LEFT;
            }
            out.push((row, x, i));
            x += w;
        }
        out
    }

    fn draw_legend(&self, svg: &mut String) {
        svg.push_str(r#"<g class="legend">"#);
        for (row, x, i) in self.legend_layout() {
            let s = &self.series[i];
            let y = LEGEND_TOP + row as f64 * LEGEND_ROW + 9.0;
            let dash = if s.dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            if s.line {
                let _ = write!(
                    svg,
                    r#"<line x1="{x:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"{dash}/>"#,
                    x + 20.0,
                    s.color,
                );
            }
            if s.markers {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{y:.1}" r="3.5" fill="{}"/>"#,
                    x + 10.0,
                    s.color
                );
            }
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                x + 26.0,
                y + 4.0,
                escape(&s.label)
            );
        }
        svg.push_str("</g>");
    }
}

/// Shaded stretches of the x axis, clipped to the plot, under the series.
fn draw_bands(svg: &mut String, bands: &[Band], xs: &Scale, top: f64, plot_h: f64) {
    let (left, right) = (xs.px_lo.min(xs.px_hi), xs.px_lo.max(xs.px_hi));
    for b in bands {
        if !(b.from.is_finite() && b.to.is_finite()) {
            continue;
        }
        let x0 = xs.px(b.from.min(b.to)).clamp(left, right);
        let x1 = xs.px(b.from.max(b.to)).clamp(left, right);
        // A one-second band on a long run is still visible.
        let w = (x1 - x0).max(1.5);
        if x0 >= right {
            continue;
        }
        let _ = write!(
            svg,
            r#"<rect class="band" x="{x0:.1}" y="{top:.1}" width="{w:.1}" height="{plot_h:.1}"><title>{}</title></rect>"#,
            escape(&b.label)
        );
    }
}

/// Most seconds a chart gets hover columns for (past this a column is narrower than a pixel).
const MAX_HOVER_COLUMNS: usize = 1800;

fn finite(p: (f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

fn draw_series(svg: &mut String, s: &Series, xs: &Scale, ys: &Scale) {
    // Split into runs of finite points; each run is one sub-path.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for &p in &s.points {
        if finite(p) {
            runs.last_mut()
                .expect("runs is never empty")
                .push((xs.px(p.0), ys.px(p.1)));
        } else if !runs.last().expect("runs is never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    let runs: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| thin(r)).collect();
    let mut line = String::new();
    let mut area = String::new();
    let base = ys.px_lo;
    for run in runs.iter().filter(|r| !r.is_empty()) {
        for (i, (x, y)) in run.iter().enumerate() {
            let _ = write!(line, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        if s.fill {
            let (first, last) = (run[0], run[run.len() - 1]);
            let _ = write!(area, "M{:.1},{base:.1}", first.0);
            for (x, y) in run {
                let _ = write!(area, "L{x:.1},{y:.1}");
            }
            let _ = write!(area, "L{:.1},{base:.1}Z", last.0);
        }
        if run.len() == 1 {
            // A single point: draw a short tick so it is visible.
            let _ = write!(line, "h0.1");
        }
    }
    if line.is_empty() {
        return;
    }
    if s.markers {
        let _ = write!(svg, r#"<g class="markers" fill="{}">"#, s.color);
        for run in &runs {
            for (x, y) in run {
                let _ = write!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5"><title>{}</title></circle>"#,
                    escape(&s.label)
                );
            }
        }
        svg.push_str("</g>");
    }
    if !s.line {
        return;
    }
    if s.fill {
        let _ = write!(
            svg,
            r#"<path class="area" d="{area}" fill="{}" fill-opacity="0.12"/>"#,
            s.color
        );
    }
    let dash = if s.dashed {
        r#" stroke-dasharray="5 3""#
    } else {
        ""
    };
    let _ = write!(
        svg,
        r#"<path class="series" d="{line}" fill="none" stroke="{}" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round"{dash}><title>{}</title></path>"#,
        s.color,
        escape(&s.label)
    );
}

/// Drop points that cannot be seen: within each half-pixel column keep the first, lowest,
/// highest and last point (in order), so a long run draws the same picture — spikes included —
/// with a path a few thousand points long at most.
fn thin(run: &[(f64, f64)]) -> Vec<(f64, f64)> {
    const COLUMN_PX: f64 = 0.5;
    if run.len() <= 4 * (WIDTH / COLUMN_PX) as usize / 2 {
        return run.to_vec();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < run.len() {
        let column = (run[i].0 / COLUMN_PX).floor();
        let mut j = i;
        while j < run.len() && (run[j].0 / COLUMN_PX).floor() == column {
            j += 1;
        }
        let bucket = &run[i..j];
        let lowest = bucket
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(k, _)| k);
        let highest = bucket
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(k, _)| k);
        let mut keep = vec![0, bucket.len() - 1];
        keep.extend(lowest);
        keep.extend(highest);
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|k| bucket[k]));
        i = j;
    }
    out
}

fn tick_label(v: f64, format: TickFormat) -> String {
    match format {
        TickFormat::Number => fmt_num(v),
        TickFormat::Elapsed => {
            let s = v.round() as i64;
            if s >= 3600 {
                format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
            } else {
                format!("{}:{:02}", s / 60, s % 60)
            }
        }
        TickFormat::Millis => {
            let (v, unit) = if v.abs() >= 1000.0 {
                (v / 1000.0, "s")
            } else {
                (v, "ms")
            };
            // Six decimals: even a microsecond-wide axis gets distinct labels.
            let text = format!("{v:.6}");
            format!(
                "{} {unit}",
                text.trim_end_matches('0').trim_end_matches('.')
            )
        }
        TickFormat::Percentile => {
            let text = format!("{v:.3}");
            format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "t <x>".into(),
            x: Axis::linear("Elapsed", TickFormat::Elapsed),
            y: Axis::linear("RPS", TickFormat::Number),
            series,
        }
    }

    #[test]
    fn every_second_has_its_values_on_hover() {
        let svg = chart(vec![
            Series::new("RPS", "#000", vec![(1.0, 12.0), (2.0, 15.5)]),
            Series::new("Fails", "#f00", vec![(2.0, 1.0)]),
        ])
        .render();
        assert_eq!(
            svg.matches("<rect data-v=").count(),
            2,
            "one column a second"
        );
        assert!(svg.contains("<title>0:01\nRPS: 12</title>"), "{svg}");
        assert!(
            svg.contains("<title>0:02\nRPS: 15.5\nFails: 1</title>"),
            "{svg}"
        );
    }

    #[test]
    fn draws_a_path_per_series_with_gaps() {
        let pts = vec![
            (0.0, 1.0),
            (1.0, 2.0),
            (2.0, f64::NAN),
            (3.0, 4.0),
            (4.0, 5.0),
        ];
        let svg = chart(vec![Series::new("a&b", "#000", pts)]).render();
        assert_eq!(svg.matches(r#"<path class="series""#).count(), 1);
        // Two sub-paths: the NaN splits the line.
        let d = svg
            .split(r#"d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2);
        assert!(svg.contains("a&amp;b"));
        assert!(svg.contains("t &lt;x&gt;"));
    }

    #[test]
    fn says_no_data_without_points() {
        let svg = chart(vec![Series::new("a", "#000", vec![])]).render();
        assert!(svg.contains("No data"));
        assert!(!svg.contains(r#"class="series""#));
    }

    #[test]
    fn long_runs_are_thinned_without_losing_spikes() {
        // One day of seconds across 760 px, with one spike.
        let run: Vec<(f64, f64)> = (0..86_400)
            .map(|i| {
                (
                    i as f64 * 700.0 / 86_400.0,
                    if i == 50_000 { 5.0 } else { 100.0 },
                )
            })
            .collect();
        let thinned = thin(&run);
        assert!(thinned.len() < 6_000, "{}", thinned.len());
        assert!(thinned.contains(&run[50_000]), "the spike survives");
        assert_eq!(thinned.first(), run.first());
        assert_eq!(thinned.last(), run.last());
        assert!(
            thinned.windows(2).all(|w| w[0].0 <= w[1].0),
            "still in order"
        );
        let short: Vec<(f64, f64)> = (0..60).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(thin(&short), short);
    }

    #[test]
    fn tick_labels() {
        assert_eq!(tick_label(125.0, TickFormat::Elapsed), "2:05");
        assert_eq!(tick_label(10_800.0, TickFormat::Elapsed), "3:00:00");
        assert_eq!(tick_label(99.9, TickFormat::Percentile), "99.9%");
        assert_eq!(tick_label(90.0, TickFormat::Percentile), "90%");
        assert_eq!(tick_label(10_000.0, TickFormat::Millis), "10 s");
        assert_eq!(tick_label(2.5, TickFormat::Millis), "2.5 ms");
        assert_eq!(tick_label(0.0002, TickFormat::Millis), "0.0002 ms");
        assert_eq!(tick_label(0.6000000000000001, TickFormat::Millis), "0.6 ms");
    }
}
