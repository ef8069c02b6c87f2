//! The target's own Prometheus metrics (`--scrape`): one chart per metric family (counters as
//! rates, gauges as values, histograms as quantiles and mean), the most telling few drawn and
//! the rest listed with their range.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Section, elapsed_axis, mean_max};
use crate::escape::escape;
use crate::format::{fmt_count, fmt_ms, fmt_num};
use crate::html::figure;
use crate::svg::{Axis, LineChart, Series, TickFormat, color};
use cicada_report::analysis_model::{Analysis, MetricSeries, ScrapedMetrics, SeriesStat};

/// Charts drawn at most; further families are listed in a table.
pub const MAX_CHARTS: usize = 8;
/// Lines per chart at most (the highest are kept; the rest are named under the chart).
pub const MAX_SERIES: usize = 8;

const MIB: f64 = 1024.0 * 1024.0;

/// How a family's values read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// `_seconds` durations, shown in milliseconds.
    Seconds,
    /// `_bytes` sizes, shown in MiB.
    Bytes,
    /// A counter's increase per second.
    PerSecond,
    Plain,
}

impl Unit {
    fn of(name: &str, stats: &[SeriesStat]) -> Unit {
        let counter = stats.iter().all(|s| matches!(s, SeriesStat::Rate));
        let base = name.strip_suffix("_total").unwrap_or(name);
        if counter {
            Unit::PerSecond
        } else if base.ends_with("_time_seconds") || base.ends_with("_timestamp_seconds") {
            // A point in time (e.g. `process_start_time_seconds`), not a duration.
            Unit::Plain
        } else if base.ends_with("_seconds") {
            Unit::Seconds
        } else if base.ends_with("_bytes") {
            Unit::Bytes
        } else {
            Unit::Plain
        }
    }

    fn scale(self, v: f64) -> f64 {
        match self {
            Unit::Seconds => v * 1000.0,
            Unit::Bytes => v / MIB,
            Unit::PerSecond | Unit::Plain => v,
        }
    }

    fn axis(self) -> Axis {
        match self {
            Unit::Seconds => Axis::linear("Duration", TickFormat::Millis),
            Unit::Bytes => Axis::linear("MiB", TickFormat::Number),
            Unit::PerSecond => Axis::linear("per second", TickFormat::Number),
            Unit::Plain => Axis::linear("value", TickFormat::Number),
        }
    }

    fn text(self, v: f64) -> String {
        match self {
            Unit::Seconds => fmt_ms(v),
            Unit::Bytes => format!("{} MiB", fmt_num(v)),
            Unit::PerSecond => format!("{} /s", fmt_num(v)),
            Unit::Plain => fmt_num(v),
        }
    }
}

fn kind_text(stats: &[SeriesStat]) -> &'static str {
    let has = |f: fn(&SeriesStat) -> bool| stats.iter().any(f);
    if has(|s| matches!(s, SeriesStat::Quantile { .. })) {
        "histogram"
    } else if has(|s| matches!(s, SeriesStat::SummaryQuantile { .. })) {
        "summary"
    } else if has(|s| matches!(s, SeriesStat::Mean)) {
        "histogram (mean)"
    } else if has(|s| matches!(s, SeriesStat::Rate)) {
        "counter (rate)"
    } else {
        "gauge"
    }
}

fn stat_text(stat: SeriesStat) -> String {
    let q = |q: f64| {
        let text = format!("{:.3}", q * 100.0);
        format!("p{}", text.trim_end_matches('0').trim_end_matches('.'))
    };
    match stat {
        SeriesStat::Rate => "rate".into(),
        SeriesStat::Gauge => "value".into(),
        SeriesStat::Quantile { q: x } | SeriesStat::SummaryQuantile { q: x } => q(x),
        SeriesStat::Mean => "mean".into(),
    }
}

/// A series' legend: its labels, and the statistic when the family has several.
fn series_label(s: &MetricSeries, several_stats: bool) -> String {
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let stat = several_stats.then(|| stat_text(s.stat));
    match (labels.is_empty(), stat) {
        (true, Some(stat)) => stat,
        (true, None) => s.name.clone(),
        (false, Some(stat)) => format!("{} {stat}", labels.join(", ")),
        (false, None) => labels.join(", "),
    }
}

/// One metric family's series, in the order scraped.
struct Family<'a> {
    name: &'a str,
    series: Vec<&'a MetricSeries>,
    stats: Vec<SeriesStat>,
    unit: Unit,
    /// Whether any series moved: a constant family tells less as a chart than as a number.
    varies: bool,
}

fn families(m: &ScrapedMetrics) -> Vec<Family<'_>> {
    let mut by_name: BTreeMap<&str, Vec<&MetricSeries>> = BTreeMap::new();
    for s in &m.series {
        by_name.entry(s.name.as_str()).or_default().push(s);
    }
    let mut out: Vec<Family<'_>> = by_name
        .into_iter()
        .map(|(name, series)| {
            let stats: Vec<SeriesStat> = series.iter().map(|s| s.stat).collect();
            let varies = series.iter().any(|s| {
                let mut values = s.points.iter().map(|p| p.value).filter(|v| v.is_finite());
                values
                    .next()
                    .is_some_and(|first| values.any(|v| (v - first).abs() > 1e-12))
            });
            Family {
                name,
                unit: Unit::of(name, &stats),
                stats,
                series,
                varies,
            }
        })
        .collect();
    // Stable sort: by name within each rank.
    out.sort_by_key(Family::rank);
    out
}

/// Name fragments of the gauges that show where a server is saturating: the ones the findings
/// rules read (queue depth, pool use, workers), charted before other gauges and counters.
const SATURATION_HINTS: [&str; 8] = [
    "queue",
    "pool",
    "worker",
    "replica",
    "in_flight",
    "inflight",
    "busy",
    "connections",
];

/// Name fragments of the counters that show the traffic the target served and refused.
const TRAFFIC_HINTS: [&str; 5] = ["request", "error", "fail", "timeout", "reject"];

impl Family<'_> {
    /// Whether a line's legend needs its statistic: quantiles and means always, and any family
    /// mixing statistics.
    fn names_stats(&self) -> bool {
        self.stats
            .iter()
            .any(|s| *s != self.stats[0] || !matches!(s, SeriesStat::Rate | SeriesStat::Gauge))
    }

    /// Chart order: latency histograms, saturation gauges, traffic and error counters, the rest;
    /// families that never changed last (a constant reads better as a number in the table).
    fn rank(&self) -> u8 {
        let histogram = self.stats.iter().any(|s| {
            matches!(
                s,
                SeriesStat::Quantile { .. } | SeriesStat::SummaryQuantile { .. } | SeriesStat::Mean
            )
        });
        let gauge = self.stats.iter().all(|s| matches!(s, SeriesStat::Gauge));
        let hinted = |hints: &[&str]| hints.iter().any(|h| self.name.contains(h));
        if !self.varies {
            4
        } else if histogram {
            0
        } else if gauge && hinted(&SATURATION_HINTS) {
            1
        } else if !gauge && hinted(&TRAFFIC_HINTS) {
            2
        } else {
            3
        }
    }
}

/// The target-metrics section, when `--scrape` was used.
pub fn section(a: &Analysis) -> Option<Section> {
    let m = a.scraped.as_ref()?;
    let mut b = format!(
        "<p class=\"note\">Scraped from <code>{}</code> once a second: {} scrapes",
        escape(&m.url),
        fmt_count(m.scrapes)
    );
    if m.failed_scrapes > 0 {
        let _ = write!(
            b,
            ", <span class=\"bad\">{} failed</span>",
            fmt_count(m.failed_scrapes)
        );
    }
    b.push('.');
    if let Some(err) = &m.last_error {
        let _ = write!(b, " Last error: <code>{}</code>.", escape(err));
    }
    b.push_str(
        " Counters are drawn as rates per second, histograms as quantiles and mean per interval.</p>\n",
    );
    let fams = families(m);
    if fams.is_empty() {
        b.push_str("<p class=\"empty\">No metric matched the selection.</p>\n");
    } else {
        let (drawn, rest) = fams.split_at(fams.len().min(MAX_CHARTS));
        b.push_str("<div class=\"charts\">\n");
        for f in drawn {
            chart(&mut b, f);
        }
        b.push_str("</div>\n");
        if !rest.is_empty() {
            rest_table(&mut b, rest);
        }
    }
    Some(Section {
        id: "target-metrics".into(),
        title: "Target metrics".into(),
        body_html: b,
    })
}

fn chart(b: &mut String, f: &Family<'_>) {
    let several_stats = f.names_stats();
    // Keep the lines with the highest peaks; name the others.
    let mut ranked: Vec<(&MetricSeries, f64)> = f
        .series
        .iter()
        .map(|s| {
            let peak =
                mean_max(s.points.iter().map(|p| p.value)).map_or(f64::NEG_INFINITY, |m| m.1);
            (*s, peak)
        })
        .collect();
    let hidden: Vec<String> = if ranked.len() > MAX_SERIES {
        let mut by_peak = ranked.clone();
        by_peak.sort_by(|a, b| b.1.total_cmp(&a.1));
        let cut: Vec<&MetricSeries> = by_peak[MAX_SERIES..].iter().map(|x| x.0).collect();
        ranked.retain(|(s, _)| !cut.iter().any(|c| std::ptr::eq(*c, *s)));
        cut.iter().map(|s| series_label(s, several_stats)).collect()
    } else {
        Vec::new()
    };
    let series = ranked
        .iter()
        .enumerate()
        .map(|(i, (s, _))| {
            let mut line = Series::new(
                &series_label(s, several_stats),
                color(i),
                s.points
                    .iter()
                    .map(|p| (p.elapsed_s, f.unit.scale(p.value)))
                    .collect(),
            );
            line.dashed = matches!(s.stat, SeriesStat::Mean);
            line
        })
        .collect();
    let c = LineChart {
        title: f.name.to_owned(),
        x: elapsed_axis(),
        y: f.unit.axis(),
        series,
    };
    let mut sub = kind_text(&f.stats).to_owned();
    if !hidden.is_empty() {
        let _ = write!(
            sub,
            "; {} more series not drawn (lower peaks): {}",
            hidden.len(),
            hidden.join("; ")
        );
    }
    figure(b, f.name, &sub, &c);
}

fn rest_table(b: &mut String, rest: &[Family<'_>]) {
    let _ = write!(
        b,
        "<p class=\"note\">{} more metric families, not charted (at most {MAX_CHARTS} charts: \
         latency histograms first, then queue, pool and worker gauges, then request and \
         error counters, then the rest; constant ones are only listed):</p>\n\
         <div class=\"table-wrap\"><table class=\"metrics\"><thead><tr><th>Metric</th><th>Kind</th>\
         <th>Series</th><th class=\"num\">Min</th><th class=\"num\">Mean</th><th class=\"num\">Max</th>\
         </tr></thead><tbody>",
        rest.len()
    );
    for f in rest {
        for s in &f.series {
            let values = || s.points.iter().map(|p| f.unit.scale(p.value));
            let min = values()
                .filter(|v| v.is_finite())
                .fold(f64::INFINITY, f64::min);
            let mm = mean_max(values());
            let cell = |v: Option<f64>| v.map_or("–".to_owned(), |v| f.unit.text(v));
            let _ = write!(
                b,
                "<tr><td class=\"name\"><code>{}</code></td><td>{}</td><td class=\"name\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(f.name),
                kind_text(&f.stats),
                escape(&series_label(s, f.names_stats())),
                escape(&cell(min.is_finite().then_some(min))),
                escape(&cell(mm.map(|m| m.0))),
                escape(&cell(mm.map(|m| m.1)))
            );
        }
    }
    b.push_str("</tbody></table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_metric_name() {
        let q = [SeriesStat::Quantile { q: 0.95 }];
        assert_eq!(
            Unit::of("dryad_http_request_duration_seconds", &q),
            Unit::Seconds
        );
        assert_eq!(
            Unit::of("process_resident_memory_bytes", &[SeriesStat::Gauge]),
            Unit::Bytes
        );
        assert_eq!(
            Unit::of("dryad_http_requests_total", &[SeriesStat::Rate]),
            Unit::PerSecond
        );
        assert_eq!(
            Unit::of("dryad_queue_depth", &[SeriesStat::Gauge]),
            Unit::Plain
        );
        assert_eq!(stat_text(SeriesStat::Quantile { q: 0.999 }), "p99.9");
        assert_eq!(stat_text(SeriesStat::Quantile { q: 0.5 }), "p50");
    }

    fn moving(name: &str, stat: SeriesStat, constant: bool) -> MetricSeries {
        MetricSeries {
            name: name.into(),
            labels: BTreeMap::new(),
            stat,
            points: (0..5)
                .map(|i| cicada_report::analysis_model::SeriesPoint {
                    elapsed_s: i as f64,
                    value: if constant { 1.0 } else { i as f64 },
                })
                .collect(),
        }
    }

    #[test]
    fn histograms_then_saturation_gauges_then_the_rest_then_constants() {
        let m = ScrapedMetrics {
            url: String::new(),
            scrapes: 5,
            failed_scrapes: 0,
            last_error: None,
            series: vec![
                moving("aa_logins_total", SeriesStat::Rate, false),
                moving("zz_http_requests_total", SeriesStat::Rate, false),
                moving("ab_pool_max", SeriesStat::Gauge, true),
                moving("ac_temperature", SeriesStat::Gauge, false),
                moving("zz_queue_depth", SeriesStat::Gauge, false),
                moving("zz_wait_seconds", SeriesStat::Quantile { q: 0.95 }, false),
                moving("zz_wait_seconds", SeriesStat::Mean, false),
            ],
        };
        let order: Vec<&str> = families(&m).iter().map(|f| f.name).collect();
        assert_eq!(
            order,
            [
                "zz_wait_seconds",
                "zz_queue_depth",
                "zz_http_requests_total",
                "aa_logins_total",
                "ac_temperature",
                "ab_pool_max"
            ]
        );
    }
}
