//! Locust-compatible CSV (`--csv PREFIX`): `PREFIX_stats.csv`, `PREFIX_stats_history.csv` and
//! `PREFIX_failures.csv` with Locust's exact column names and order, so tools and dashboards
//! built for Locust read them unchanged.
//!
//! Differences from Locust, all in values, never in layout: times keep sub-millisecond
//! precision (Locust rounds percentiles to whole milliseconds), numbers are written in their
//! shortest exact form (so they equal the JSON report's), and `_stats_history.csv` has one
//! `Aggregated` row per second of the run (Locust's default, without `--csv-full-history`).

use std::path::{Path, PathBuf};

use cicada_report::model::{Percentiles, RunReport};

/// Header of `_stats.csv`, as Locust writes it.
pub const STATS_HEADER: [&str; 22] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
];

/// Header of `_stats_history.csv`, as Locust writes it.
pub const STATS_HISTORY_HEADER: [&str; 24] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

/// Header of `_failures.csv`, as Locust writes it.
pub const FAILURES_HEADER: [&str; 4] = ["Method", "Name", "Error", "Occurrences"];

const NA: &str = "N/A";

/// The three CSV files of a report: (file suffix, contents).
pub fn render_csv(report: &RunReport) -> [(&'static str, String); 3] {
    [
        ("_stats.csv", stats_csv(report)),
        ("_stats_history.csv", stats_history_csv(report)),
        ("_failures.csv", failures_csv(report)),
    ]
}

/// `PREFIX` + `suffix` (e.g. `out/run` + `_stats.csv` = `out/run_stats.csv`).
pub fn csv_path(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `_stats.csv`: one row per request row, then the `Aggregated` row (empty Type).
pub fn stats_csv(report: &RunReport) -> String {
    let mut rows = vec![row(STATS_HEADER)];
    for r in report
        .requests
        .iter()
        .chain(std::iter::once(&report.aggregated))
    {
        let mut cells = vec![
            r.method.clone(),
            r.name.clone(),
            r.requests.to_string(),
            r.failures.to_string(),
            num(r.percentiles.p50),
            num(r.mean_ms),
            num(r.min_ms),
            num(r.max_ms),
            num(r.avg_size_bytes),
            num(r.rps),
            num(r.failures_per_s),
        ];
        cells.extend(percentile_cells(&r.percentiles, r.requests > 0));
        rows.push(cells);
    }
    to_csv(rows)
}

/// `_stats_history.csv`: one `Aggregated` row per interval of the timeline.
pub fn stats_history_csv(report: &RunReport) -> String {
    let mut rows = vec![row(STATS_HISTORY_HEADER)];
    let (mut sum_ms, mut count, mut max_ms) = (0.0f64, 0u64, f64::NAN);
    for s in &report.timeline {
        sum_ms += s.mean_ms * s.requests as f64;
        count += s.requests;
        if s.requests > 0 {
            max_ms = if max_ms.is_nan() {
                s.percentiles.p100
            } else {
                max_ms.max(s.percentiles.p100)
            };
        }
        let mut cells = vec![
            s.unix_time.to_string(),
            s.users.to_string(),
            String::new(),
            "Aggregated".to_owned(),
            num(s.rps),
            num(s.failures_per_s),
        ];
        let totals: [String; 5] = match &s.cumulative {
            Some(c) => {
                cells.extend(percentile_cells(&c.percentiles, s.total_requests > 0));
                [
                    num(c.percentiles.p50),
                    num(c.mean_ms),
                    num(c.min_ms),
                    num(c.max_ms),
                    num(c.avg_size_bytes),
                ]
            }
            None => {
                // Without cumulative data: this interval's percentiles (Locust's "current"
                // window); the running mean and max are exact, median, min and size are not
                // known per second, so they are N/A rather than guessed.
                cells.extend(percentile_cells(&s.percentiles, s.requests > 0));
                let mean = if count > 0 {
                    num(sum_ms / count as f64)
                } else {
                    "0".into()
                };
                let max = if max_ms.is_nan() {
                    "0".into()
                } else {
                    num(max_ms)
                };
                [NA.into(), mean, NA.into(), max, NA.into()]
            }
        };
        cells.push(s.total_requests.to_string());
        cells.push(s.total_failures.to_string());
        cells.extend(totals);
        rows.push(cells);
    }
    to_csv(rows)
}

/// `_failures.csv`: one row per failure group, most frequent first.
pub fn failures_csv(report: &RunReport) -> String {
    let mut rows = vec![row(FAILURES_HEADER)];
    for f in &report.failures {
        rows.push(vec![
            f.method.clone(),
            f.name.clone(),
            f.message.clone(),
            f.occurrences.to_string(),
        ]);
    }
    to_csv(rows)
}

/// The eleven percentile cells of a row, or `N/A` for each when it has no requests (as Locust).
fn percentile_cells(p: &Percentiles, has_data: bool) -> Vec<String> {
    let values = [
        p.p50, p.p66, p.p75, p.p80, p.p90, p.p95, p.p98, p.p99, p.p99_9, p.p99_99, p.p100,
    ];
    values
        .iter()
        .map(|v| if has_data { num(*v) } else { NA.to_owned() })
        .collect()
}

/// A number in its shortest form that reads back exactly (`12`, `0.4125`).
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        NA.to_owned()
    }
}

fn row<const N: usize>(header: [&str; N]) -> Vec<String> {
    header.iter().map(|s| (*s).to_owned()).collect()
}

fn to_csv(rows: Vec<Vec<String>>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in rows {
        w.write_record(&r)
            .expect("writing CSV to memory cannot fail");
    }
    let bytes = w.into_inner().expect("flushing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}
