//! Turning successive scrapes into time series: counters become per-second rates (a drop is a
//! counter reset: the new value counts as the increase), gauges stay values, histograms become
//! quantiles and means per interval from bucket deltas, summaries keep their own quantiles.

use std::collections::BTreeMap;

use cicada_report::analysis_model::{MetricSeries, ScrapedMetrics, SeriesPoint, SeriesStat};

use super::parse::{MetricFamily, MetricType, parse_value};
use super::quantile::histogram_quantile;
use super::select::MetricSelector;

type Labels = BTreeMap<String, String>;

/// A series' identity: family, labels without `le` / `quantile`, and which statistic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    name: String,
    labels: Labels,
    /// Discriminates statistics: 0 rate, 1 gauge, 2 quantile, 3 mean, 4 summary quantile;
    /// with the quantile in millionths.
    stat: (u8, u64),
}

fn stat_key(stat: SeriesStat) -> (u8, u64) {
    let millionths = |q: f64| (q * 1e6).round() as u64;
    match stat {
        SeriesStat::Rate => (0, 0),
        SeriesStat::Gauge => (1, 0),
        SeriesStat::Quantile { q } => (2, millionths(q)),
        SeriesStat::Mean => (3, 0),
        SeriesStat::SummaryQuantile { q } => (4, millionths(q)),
    }
}

fn stat_of(key: (u8, u64)) -> SeriesStat {
    let q = key.1 as f64 / 1e6;
    match key.0 {
        0 => SeriesStat::Rate,
        1 => SeriesStat::Gauge,
        2 => SeriesStat::Quantile { q },
        3 => SeriesStat::Mean,
        _ => SeriesStat::SummaryQuantile { q },
    }
}

/// The cumulative state of one histogram or summary child at one scrape.
#[derive(Debug, Clone, Default)]
struct Cumulative {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// Everything cumulative seen at one scrape.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    counters: BTreeMap<(String, Labels), f64>,
    distributions: BTreeMap<(String, Labels), Cumulative>,
}

/// Accumulates scrapes into series. Feed it with [`add_scrape`](Self::add_scrape) in time
/// order; read the result with [`series`](Self::series).
#[derive(Debug, Clone)]
pub struct SeriesAccumulator {
    selector: MetricSelector,
    quantiles: Vec<f64>,
    prev: Option<(f64, Snapshot)>,
    series: BTreeMap<Key, Vec<SeriesPoint>>,
}

impl SeriesAccumulator {
    /// Keep the families `selector` matches; compute `quantiles` (e.g. `[0.5, 0.95, 0.99]`)
    /// of every histogram.
    pub fn new(selector: MetricSelector, quantiles: &[f64]) -> Self {
        Self {
            selector,
            quantiles: quantiles
                .iter()
                .copied()
                .filter(|q| (0.0..=1.0).contains(q))
                .collect(),
            prev: None,
            series: BTreeMap::new(),
        }
    }

    fn push(&mut self, name: &str, labels: &Labels, stat: SeriesStat, elapsed_s: f64, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.series
            .entry(Key {
                name: name.to_owned(),
                labels: labels.clone(),
                stat: stat_key(stat),
            })
            .or_default()
            .push(SeriesPoint { elapsed_s, value });
    }

    /// Add one scrape taken at `elapsed_s` seconds into the run. Rates and per-interval
    /// statistics need a previous scrape, so the first scrape yields only gauges.
    /// A scrape not later than the previous one is ignored.
    pub fn add_scrape(&mut self, elapsed_s: f64, families: &[MetricFamily]) {
        if let Some((t, _)) = &self.prev
            && elapsed_s <= *t
        {
            return;
        }
        let mut snap = Snapshot::default();
        let selected: Vec<&MetricFamily> = families
            .iter()
            .filter(|f| self.selector.matches(&f.name))
            .collect();
        for family in selected {
            match family.kind {
                MetricType::Counter => {
                    for s in &family.samples {
                        // `_created` (OpenMetrics) is a timestamp, not a count.
                        if s.name.ends_with("_created") {
                            continue;
                        }
                        snap.counters
                            .insert((family.name.clone(), s.labels.clone()), s.value);
                    }
                }
                MetricType::Gauge | MetricType::Untyped => {
                    for s in &family.samples {
                        self.push(&s.name, &s.labels, SeriesStat::Gauge, elapsed_s, s.value);
                    }
                }
                MetricType::Histogram | MetricType::Summary => {
                    self.collect_distribution(family, elapsed_s, &mut snap);
                }
            }
        }
        if let Some((prev_t, prev)) = self.prev.take() {
            let dt = elapsed_s - prev_t;
            for ((name, labels), &now) in &snap.counters {
                if let Some(&before) = prev.counters.get(&(name.clone(), labels.clone())) {
                    let increase = if now >= before { now - before } else { now };
                    self.push(name, labels, SeriesStat::Rate, elapsed_s, increase / dt);
                }
            }
            for ((name, labels), now) in &snap.distributions {
                let Some(before) = prev.distributions.get(&(name.clone(), labels.clone())) else {
                    continue;
                };
                let reset = now.count < before.count;
                let delta_count = if reset {
                    now.count
                } else {
                    now.count - before.count
                };
                let delta_sum = if reset { now.sum } else { now.sum - before.sum };
                if delta_count > 0.0 {
                    self.push(
                        name,
                        labels,
                        SeriesStat::Mean,
                        elapsed_s,
                        delta_sum / delta_count,
                    );
                }
                if now.buckets.is_empty() || delta_count <= 0.0 {
                    continue;
                }
                let deltas: Vec<(f64, f64)> = now
                    .buckets
                    .iter()
                    .map(|&(le, c)| {
                        let old = if reset {
                            0.0
                        } else {
                            before
                                .buckets
                                .iter()
                                .find(|(ble, _)| *ble == le)
                                .map_or(0.0, |&(_, c)| c)
                        };
                        (le, (c - old).max(0.0))
                    })
                    .collect();
                for q in self.quantiles.clone() {
                    let v = histogram_quantile(q, &deltas);
                    self.push(name, labels, SeriesStat::Quantile { q }, elapsed_s, v);
                }
            }
        }
        self.prev = Some((elapsed_s, snap));
    }

    fn collect_distribution(&mut self, family: &MetricFamily, elapsed_s: f64, snap: &mut Snapshot) {
        let bucket = format!("{}_bucket", family.name);
        let sum = format!("{}_sum", family.name);
        let count = format!("{}_count", family.name);
        for s in &family.samples {
            let mut labels = s.labels.clone();
            if s.name == bucket {
                let Some(le) = labels.remove("le").and_then(|le| parse_value(&le).ok()) else {
                    continue;
                };
                snap.distributions
                    .entry((family.name.clone(), labels))
                    .or_default()
                    .buckets
                    .push((le, s.value));
            } else if s.name == sum {
                snap.distributions
                    .entry((family.name.clone(), labels))
                    .or_default()
                    .sum = s.value;
            } else if s.name == count {
                snap.distributions
                    .entry((family.name.clone(), labels))
                    .or_default()
                    .count = s.value;
            } else if s.name == family.name
                && let Some(q) = labels.remove("quantile").and_then(|q| parse_value(&q).ok())
            {
                self.push(
                    &family.name,
                    &labels,
                    SeriesStat::SummaryQuantile { q },
                    elapsed_s,
                    s.value,
                );
            }
        }
    }

    /// The series so far, sorted by name, labels and statistic.
    pub fn series(&self) -> Vec<MetricSeries> {
        self.series
            .iter()
            .map(|(k, points)| MetricSeries {
                name: k.name.clone(),
                labels: k.labels.clone(),
                stat: stat_of(k.stat),
                points: points.clone(),
            })
            .collect()
    }

    /// The points of one series, if it exists.
    pub fn points(&self, name: &str, labels: &Labels, stat: SeriesStat) -> Option<&[SeriesPoint]> {
        self.series
            .get(&Key {
                name: name.to_owned(),
                labels: labels.clone(),
                stat: stat_key(stat),
            })
            .map(Vec::as_slice)
    }

    /// Package as the report's section.
    pub fn into_scraped(
        self,
        url: &str,
        scrapes: u64,
        failed_scrapes: u64,
        last_error: Option<String>,
    ) -> ScrapedMetrics {
        ScrapedMetrics {
            url: url.to_owned(),
            scrapes,
            failed_scrapes,
            last_error,
            series: self.series(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::parse::parse_text;

    fn scrape(acc: &mut SeriesAccumulator, t: f64, text: &str) {
        acc.add_scrape(t, &parse_text(text).unwrap());
    }

    fn no_labels() -> Labels {
        Labels::new()
    }

    fn values(acc: &SeriesAccumulator, name: &str, stat: SeriesStat) -> Vec<(f64, f64)> {
        acc.points(name, &no_labels(), stat)
            .unwrap_or_default()
            .iter()
            .map(|p| (p.elapsed_s, p.value))
            .collect()
    }

    #[test]
    fn counters_become_rates_with_resets() {
        let mut acc = SeriesAccumulator::new(MetricSelector::all(), &[]);
        let c = |v: u32| format!("# TYPE reqs_total counter\nreqs_total {v}\n");
        scrape(&mut acc, 1.0, &c(100));
        scrape(&mut acc, 2.0, &c(150));
        scrape(&mut acc, 4.0, &c(250));
        // Restart: the counter drops to 30 — that 30 is the increase.
        scrape(&mut acc, 5.0, &c(30));
        assert_eq!(
            values(&acc, "reqs_total", SeriesStat::Rate),
            [(2.0, 50.0), (4.0, 50.0), (5.0, 30.0)]
        );
        // Out-of-order scrapes are ignored.
        scrape(&mut acc, 5.0, &c(1000));
        assert_eq!(values(&acc, "reqs_total", SeriesStat::Rate).len(), 3);
    }

    #[test]
    fn gauges_are_values_from_the_first_scrape() {
        let mut acc = SeriesAccumulator::new(MetricSelector::all(), &[]);
        scrape(&mut acc, 1.0, "# TYPE q gauge\nq 3\nuntyped_thing 7\n");
        scrape(&mut acc, 2.0, "# TYPE q gauge\nq 5\nuntyped_thing 8\n");
        assert_eq!(
            values(&acc, "q", SeriesStat::Gauge),
            [(1.0, 3.0), (2.0, 5.0)]
        );
        assert_eq!(
            values(&acc, "untyped_thing", SeriesStat::Gauge),
            [(1.0, 7.0), (2.0, 8.0)]
        );
    }

    fn hist(b1: u32, b2: u32, inf: u32, sum: f64) -> String {
        format!(
            "# TYPE lat histogram\nlat_bucket{{le=\"0.1\"}} {b1}\nlat_bucket{{le=\"0.5\"}} {b2}\nlat_bucket{{le=\"+Inf\"}} {inf}\nlat_sum {sum}\nlat_count {inf}\n"
        )
    }

    #[test]
    fn histograms_become_interval_quantiles_from_bucket_deltas() {
        let mut acc = SeriesAccumulator::new(MetricSelector::all(), &[0.5, 0.9]);
        scrape(&mut acc, 1.0, &hist(1000, 1000, 1000, 10.0));
        // Interval 1→2: 100 new observations, all in (0.1, 0.5]; the history of 1000 fast
        // ones must not drag the quantile down.
        scrape(&mut acc, 2.0, &hist(1000, 1100, 1100, 40.0));
        let p50 = values(&acc, "lat", SeriesStat::Quantile { q: 0.5 });
        assert_eq!(p50.len(), 1);
        assert!((p50[0].1 - 0.3).abs() < 1e-9, "{p50:?}");
        let mean = values(&acc, "lat", SeriesStat::Mean);
        assert!((mean[0].1 - 0.3).abs() < 1e-9, "{mean:?}");
        // An idle interval yields no point.
        scrape(&mut acc, 3.0, &hist(1000, 1100, 1100, 40.0));
        assert_eq!(
            values(&acc, "lat", SeriesStat::Quantile { q: 0.5 }).len(),
            1
        );
        // A reset: the whole new histogram is the interval's data (10 fast observations).
        scrape(&mut acc, 4.0, &hist(10, 10, 10, 0.5));
        let p90 = values(&acc, "lat", SeriesStat::Quantile { q: 0.9 });
        assert_eq!(p90.last().unwrap().0, 4.0);
        assert!((p90.last().unwrap().1 - 0.09).abs() < 1e-9, "{p90:?}");
    }

    #[test]
    fn labelled_histograms_keep_their_labels_and_summaries_their_quantiles() {
        let mut acc = SeriesAccumulator::new(MetricSelector::all(), &[0.5]);
        let text = |n: u32| {
            format!(
                "# TYPE h histogram\nh_bucket{{route=\"/a\",le=\"1\"}} {n}\nh_bucket{{route=\"/a\",le=\"+Inf\"}} {n}\nh_sum{{route=\"/a\"}} {n}\nh_count{{route=\"/a\"}} {n}\n# TYPE s summary\ns{{quantile=\"0.99\"}} 0.25\ns_sum 5\ns_count {n}\n"
            )
        };
        scrape(&mut acc, 1.0, &text(10));
        scrape(&mut acc, 2.0, &text(20));
        let series = acc.series();
        let route: Labels = [("route".to_string(), "/a".to_string())].into();
        let h = series
            .iter()
            .find(|s| s.name == "h" && s.stat == SeriesStat::Quantile { q: 0.5 })
            .unwrap();
        assert_eq!(h.labels, route);
        assert_eq!(h.points[0].value, 0.5);
        let s = series
            .iter()
            .find(|s| s.name == "s" && matches!(s.stat, SeriesStat::SummaryQuantile { .. }))
            .unwrap();
        assert_eq!(s.stat, SeriesStat::SummaryQuantile { q: 0.99 });
        assert_eq!(s.points.len(), 2);
        // Summary mean over the interval: Δsum 0 / Δcount 10.
        assert_eq!(values(&acc, "s", SeriesStat::Mean), [(2.0, 0.0)]);
    }

    #[test]
    fn the_selector_filters_families() {
        let sel = MetricSelector::new(["keep_*"]).unwrap();
        let mut acc = SeriesAccumulator::new(sel, &[]);
        scrape(&mut acc, 1.0, "keep_me 1\ndrop_me 2\n");
        let names: Vec<_> = acc.series().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["keep_me"]);
        let scraped = acc.into_scraped("http://127.0.0.1:1/metrics", 1, 0, None);
        assert_eq!(scraped.series.len(), 1);
        assert_eq!(scraped.scrapes, 1);
    }
}
