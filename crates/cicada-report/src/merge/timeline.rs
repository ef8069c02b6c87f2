//! Per-second samples of several reports aligned by wall-clock second (`unix_time`, the end of
//! each interval): the union of the reports' seconds, counts and rates added, users added (a
//! worker between two of its own samples counts with its last value), and percentiles from the
//! added per-second histograms when the samples carry them. Without them a second that several
//! workers share gets the highest of their percentiles — an upper bound, recorded in
//! [`Approximations`].

use std::collections::BTreeMap;

use super::rows::{TimingSums, decode_required};
use super::{Approximations, MergeError};
use crate::histogram::{Hist, encode, mean_ms, min_max_ms, new_hist, percentiles};
use crate::model::{CumulativeSample, IntervalRequestSample, IntervalSample, Percentiles};

/// One report's timeline and the file it came from.
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    pub source: &'a str,
    pub samples: &'a [IntervalSample],
}

/// A sample of one report in a second, with its decoded histogram.
struct Part<'a> {
    report: usize,
    sample: &'a IntervalSample,
    hist: Option<Hist>,
}

/// Merge the timelines of several reports into one, aligned by wall-clock second.
pub fn merge_timelines(
    timelines: &[Timeline<'_>],
    approx: &mut Approximations,
) -> Result<Vec<IntervalSample>, MergeError> {
    let mut seconds: BTreeMap<u64, Vec<Part<'_>>> = BTreeMap::new();
    for (report, t) in timelines.iter().enumerate() {
        for sample in t.samples {
            let hist = decode_required(
                t.source,
                || format!("the second ending at unix time {}", sample.unix_time),
                sample.requests,
                sample.histogram.as_deref(),
            )
            .or_else(|e| match e {
                // Per-second histograms are newer than row histograms: without them the merge
                // is still exact for the run, and bounded per second.
                MergeError::NoHistogram { .. } => Ok(None),
                e => Err(e),
            })?;
            seconds.entry(sample.unix_time).or_default().push(Part {
                report,
                sample,
                hist,
            });
        }
    }
    // Each report's start as a whole Unix second (end of its first second minus elapsed).
    let start = timelines
        .iter()
        .filter_map(|t| t.samples.first())
        .map(|s| s.unix_time.saturating_sub(s.elapsed_s))
        .min()
        .unwrap_or(0);
    let ranges: Vec<Option<(u64, u64)>> = timelines
        .iter()
        .map(|t| Some((t.samples.first()?.unix_time, t.samples.last()?.unix_time)))
        .collect();
    let mut users = vec![0u64; timelines.len()];
    // Per report: (cumulative requests, cumulative mean size) as of its latest sample.
    let mut sizes: Vec<Option<(u64, f64)>> = vec![Some((0, 0.0)); timelines.len()];
    let mut cumulative = Some(new_hist());
    let (mut total_requests, mut total_failures) = (0u64, 0u64);
    let mut out = Vec::with_capacity(seconds.len());
    for (unix_time, parts) in seconds {
        for part in &parts {
            users[part.report] = part.sample.users;
            sizes[part.report] = part
                .sample
                .cumulative
                .as_ref()
                .map(|c| (part.sample.total_requests, c.avg_size_bytes));
        }
        // A worker between its first and last second counts with its last known users.
        let users_now = ranges
            .iter()
            .zip(&users)
            .filter(|(range, _)| range.is_some_and(|(a, b)| (a..=b).contains(&unix_time)))
            .map(|(_, u)| u)
            .sum();
        let hist = exact_hist(&parts);
        let sample = merge_second(unix_time, start, users_now, &parts, hist.as_ref(), approx);
        total_requests += sample.requests;
        total_failures += sample.failures;
        cumulative = match (cumulative, &hist) {
            (Some(mut cum), Some(h)) => {
                let _ = cum.add(h);
                Some(cum)
            }
            _ => None,
        };
        let avg_size = sizes
            .iter()
            .try_fold((0u64, 0.0f64), |(n, bytes), s| {
                s.map(|(tn, avg)| (n + tn, bytes + avg * tn as f64))
            })
            .map(|(n, bytes)| if n == 0 { 0.0 } else { bytes / n as f64 });
        out.push(IntervalSample {
            total_requests,
            total_failures,
            cumulative: cumulative
                .as_ref()
                .zip(avg_size)
                .map(|(cum, avg)| cumulative_sample(cum, avg)),
            ..sample
        });
    }
    Ok(out)
}

/// The exact histogram of a second, if every part with requests carries one.
fn exact_hist(parts: &[Part<'_>]) -> Option<Hist> {
    let mut hist = new_hist();
    for p in parts.iter().filter(|p| p.sample.requests > 0) {
        let _ = hist.add(p.hist.as_ref()?);
    }
    Some(hist)
}

fn cumulative_sample(cum: &Hist, avg_size_bytes: f64) -> CumulativeSample {
    let (min_ms, max_ms) = min_max_ms(cum);
    CumulativeSample {
        percentiles: percentiles(cum),
        mean_ms: mean_ms(cum),
        min_ms,
        max_ms,
        avg_size_bytes,
    }
}

/// The rate of one report in a second: its requests over the length of its samples there
/// (each sample's length is `requests / rps`; 1 s when that cannot be told).
fn rate(parts: &[&Part<'_>], count: impl Fn(&IntervalSample) -> (u64, f64)) -> f64 {
    let (mut n, mut len) = (0u64, 0.0f64);
    for p in parts {
        let (c, per_s) = count(p.sample);
        let (r, rps) = (p.sample.requests, p.sample.rps);
        n += c;
        len += if r > 0 && rps > 0.0 {
            r as f64 / rps
        } else if c > 0 && per_s > 0.0 {
            c as f64 / per_s
        } else {
            1.0
        };
    }
    if len > 0.0 { n as f64 / len } else { 0.0 }
}

/// Merge the parts of one wall-clock second, whose exact histogram is `hist` when every part
/// carries one (counters of the run are filled in by the caller).
fn merge_second(
    unix_time: u64,
    start: u64,
    users: u64,
    parts: &[Part<'_>],
    hist: Option<&Hist>,
    approx: &mut Approximations,
) -> IntervalSample {
    let mut by_report: BTreeMap<usize, Vec<&Part<'_>>> = BTreeMap::new();
    for p in parts {
        by_report.entry(p.report).or_default().push(p);
    }
    let rps = by_report
        .values()
        .map(|ps| rate(ps, |s| (s.requests, s.rps)))
        .sum();
    let failures_per_s = by_report
        .values()
        .map(|ps| rate(ps, |s| (s.failures, s.failures_per_s)))
        .sum();
    let busy: Vec<&Part<'_>> = parts.iter().filter(|p| p.sample.requests > 0).collect();
    let requests: u64 = parts.iter().map(|p| p.sample.requests).sum();
    let failures: u64 = parts.iter().map(|p| p.sample.failures).sum();
    let (pcts, mean, histogram) = match (busy.as_slice(), hist) {
        ([], _) => (Percentiles::default(), 0.0, None),
        ([one], _) => (
            one.sample.percentiles,
            one.sample.mean_ms,
            one.sample.histogram.clone(),
        ),
        (_, Some(h)) => (percentiles(h), mean_ms(h), encode(h)),
        (_, None) => {
            approx.second_percentiles += 1;
            let weighted: f64 = busy
                .iter()
                .map(|p| p.sample.mean_ms * p.sample.requests as f64)
                .sum();
            (
                upper_bound(busy.iter().map(|p| p.sample.percentiles)),
                weighted / requests as f64,
                None,
            )
        }
    };
    let mut timing = TimingSums::default();
    for p in parts {
        timing.add(p.sample.server_timing.as_ref());
    }
    let sum_opt = |f: fn(&IntervalSample) -> Option<u64>| {
        parts
            .iter()
            .filter_map(|p| f(p.sample))
            .reduce(|a, b| a + b)
    };
    let lags: Vec<f64> = parts
        .iter()
        .filter_map(|p| p.sample.schedule_lag_p99_ms)
        .collect();
    if lags.len() > 1 {
        approx.second_lag += 1;
    }
    IntervalSample {
        elapsed_s: unix_time.saturating_sub(start),
        unix_time,
        users,
        requests,
        failures,
        rps,
        failures_per_s,
        percentiles: pcts,
        mean_ms: mean,
        total_requests: 0,
        total_failures: 0,
        by_request: merge_by_request(parts, hist, requests, approx),
        late_iterations: sum_opt(|s| s.late_iterations),
        dropped_iterations: sum_opt(|s| s.dropped_iterations),
        schedule_lag_p99_ms: lags.into_iter().reduce(f64::max),
        cumulative: None,
        server_timing: timing.stats(),
        histogram,
    }
}

/// Column by column, the highest of several percentile sets: each is an upper bound of the
/// percentile of their union (which lies between the lowest and the highest).
fn upper_bound(sets: impl Iterator<Item = Percentiles>) -> Percentiles {
    sets.reduce(|a, b| Percentiles {
        p50: a.p50.max(b.p50),
        p66: a.p66.max(b.p66),
        p75: a.p75.max(b.p75),
        p80: a.p80.max(b.p80),
        p90: a.p90.max(b.p90),
        p95: a.p95.max(b.p95),
        p98: a.p98.max(b.p98),
        p99: a.p99.max(b.p99),
        p99_9: a.p99_9.max(b.p99_9),
        p99_99: a.p99_99.max(b.p99_99),
        p100: a.p100.max(b.p100),
    })
    .unwrap_or_default()
}

/// Per-row figures of one second: counts added; percentiles kept when one report had the row
/// in that second, taken from the second's exact histogram when the row is the second's only
/// one, else the highest (an upper bound: reports keep no per-row second histogram).
fn merge_by_request(
    parts: &[Part<'_>],
    second: Option<&Hist>,
    requests: u64,
    approx: &mut Approximations,
) -> Vec<IntervalRequestSample> {
    let mut rows: BTreeMap<(&str, &str, Option<&str>), (IntervalRequestSample, usize)> =
        BTreeMap::new();
    for r in parts.iter().flat_map(|p| &p.sample.by_request) {
        let key = (r.name.as_str(), r.method.as_str(), r.user_type.as_deref());
        match rows.get_mut(&key) {
            None => {
                rows.insert(key, (r.clone(), 1));
            }
            Some((acc, n)) => {
                acc.requests += r.requests;
                acc.failures += r.failures;
                acc.p50_ms = acc.p50_ms.max(r.p50_ms);
                acc.p95_ms = acc.p95_ms.max(r.p95_ms);
                acc.p99_ms = acc.p99_ms.max(r.p99_ms);
                *n += 1;
            }
        }
    }
    let only_row = rows.len() == 1;
    rows.into_values()
        .map(|(mut row, n)| {
            match second {
                Some(h) if n > 1 && only_row && row.requests == requests => {
                    let q = |p: f64| crate::histogram::percentile_ms(h, p);
                    (row.p50_ms, row.p95_ms, row.p99_ms) = (q(50.0), q(95.0), q(99.0));
                }
                _ if n > 1 => approx.row_second_percentiles += 1,
                _ => {}
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{encode, new_hist};

    fn second(unix_time: u64, elapsed_s: u64, users: u64, latencies_us: &[u64]) -> IntervalSample {
        let mut h = new_hist();
        for us in latencies_us {
            h.record(*us).unwrap();
        }
        let n = latencies_us.len() as u64;
        IntervalSample {
            elapsed_s,
            unix_time,
            users,
            requests: n,
            failures: 0,
            rps: n as f64,
            failures_per_s: 0.0,
            percentiles: percentiles(&h),
            mean_ms: mean_ms(&h),
            total_requests: 0,
            total_failures: 0,
            by_request: vec![IntervalRequestSample {
                user_type: None,
                method: "GET".into(),
                name: "/a".into(),
                requests: n,
                failures: 0,
                p50_ms: percentiles(&h).p50,
                p95_ms: percentiles(&h).p95,
                p99_ms: percentiles(&h).p99,
            }],
            late_iterations: None,
            dropped_iterations: None,
            schedule_lag_p99_ms: None,
            cumulative: Some(CumulativeSample {
                percentiles: Percentiles::default(),
                mean_ms: 0.0,
                min_ms: 0.0,
                max_ms: 0.0,
                avg_size_bytes: 100.0,
            }),
            server_timing: None,
            histogram: if n == 0 { None } else { encode(&h) },
        }
    }

    fn with_totals(mut samples: Vec<IntervalSample>) -> Vec<IntervalSample> {
        let mut total = 0;
        for s in &mut samples {
            total += s.requests;
            s.total_requests = total;
        }
        samples
    }

    fn merge(a: &[IntervalSample], b: &[IntervalSample]) -> (Vec<IntervalSample>, Approximations) {
        let mut approx = Approximations::default();
        let merged = merge_timelines(
            &[
                Timeline {
                    source: "a.json",
                    samples: a,
                },
                Timeline {
                    source: "b.json",
                    samples: b,
                },
            ],
            &mut approx,
        )
        .unwrap();
        (merged, approx)
    }

    #[test]
    fn aligns_by_wall_clock_second_over_the_union_of_ranges() {
        // Worker a runs seconds 101..=103, worker b starts a second later: 102..=104, and skips
        // second 103 (no sample), so its users carry over from 102.
        let a = with_totals(vec![
            second(101, 1, 10, &[1_000, 2_000]),
            second(102, 2, 20, &[1_000]),
            second(103, 3, 20, &[3_000]),
        ]);
        let b = with_totals(vec![
            second(102, 1, 5, &[10_000, 20_000, 30_000]),
            second(104, 3, 7, &[4_000]),
        ]);
        let (m, approx) = merge(&a, &b);
        let secs: Vec<(u64, u64)> = m.iter().map(|s| (s.unix_time, s.elapsed_s)).collect();
        assert_eq!(secs, vec![(101, 1), (102, 2), (103, 3), (104, 4)]);
        let users: Vec<u64> = m.iter().map(|s| s.users).collect();
        assert_eq!(users, vec![10, 25, 25, 7]);
        let requests: Vec<u64> = m.iter().map(|s| s.requests).collect();
        assert_eq!(requests, vec![2, 4, 1, 1]);
        assert_eq!(m.last().unwrap().total_requests, 8);
        assert_eq!(m[1].rps, 4.0);
        // Second 102 has both workers: its percentiles come from the added histograms.
        let mut union = new_hist();
        for us in [1_000, 10_000, 20_000, 30_000] {
            union.record(us).unwrap();
        }
        assert_eq!(m[1].percentiles, percentiles(&union));
        assert_eq!(m[1].by_request[0].requests, 4);
        // The second's only row gets the percentiles of the second's exact histogram.
        assert_eq!(m[1].by_request[0].p95_ms, percentiles(&union).p95);
        assert_eq!(approx, Approximations::default());
        // Cumulative columns are exact: the union of every second so far.
        let cum = m[3].cumulative.as_ref().unwrap();
        union.record(2_000).unwrap();
        for us in [1_000, 3_000, 4_000] {
            union.record(us).unwrap();
        }
        assert_eq!(cum.percentiles, percentiles(&union));
        assert_eq!((cum.min_ms, cum.max_ms), min_max_ms(&union));
        assert_eq!(cum.avg_size_bytes, 100.0);
    }

    #[test]
    fn per_row_percentiles_of_a_shared_second_with_several_rows_are_upper_bounds() {
        let two_rows = |unix_time, us: u64| {
            let mut s = second(unix_time, 1, 1, &[us, us]);
            let mut other = s.by_request[0].clone();
            other.name = "/b".into();
            other.requests = 1;
            s.by_request[0].requests = 1;
            s.by_request.push(other);
            s
        };
        let (m, approx) = merge(&[two_rows(70, 1_000)], &[two_rows(70, 5_000)]);
        let row = &m[0].by_request[0];
        assert_eq!(row.requests, 2);
        assert_eq!(
            row.p50_ms,
            percentiles(&{
                let mut h = new_hist();
                h.record(5_000).unwrap();
                h
            })
            .p50
        );
        assert_eq!(approx.row_second_percentiles, 2);
        assert!(approx.lines()[0].contains("upper bound"));
    }

    #[test]
    fn without_second_histograms_shared_seconds_are_upper_bounds() {
        let strip = |mut s: IntervalSample| {
            s.histogram = None;
            s
        };
        let a = vec![strip(second(50, 1, 1, &[1_000, 1_000, 1_000]))];
        let b = vec![strip(second(50, 1, 1, &[9_000]))];
        let (m, approx) = merge(&a, &b);
        assert_eq!(m.len(), 1);
        assert_eq!(approx.second_percentiles, 1);
        assert_eq!(m[0].percentiles.p50, b[0].percentiles.p50);
        assert_eq!(m[0].percentiles.p99, b[0].percentiles.p99);
        assert!((m[0].mean_ms - 3.0).abs() < 0.01, "{}", m[0].mean_ms);
        assert!(m[0].histogram.is_none());
        assert!(m[0].cumulative.is_none(), "no exact cumulative percentiles");
        // One worker alone in a second keeps its exact figures.
        let c = vec![strip(second(51, 2, 1, &[2_000]))];
        let (m, approx) = merge(&a, &c);
        assert_eq!(approx.second_percentiles, 0);
        assert_eq!(m[1].percentiles, c[0].percentiles);
    }

    #[test]
    fn a_damaged_second_histogram_is_refused() {
        let mut a = vec![second(50, 1, 1, &[1_000])];
        a[0].histogram = Some("not base64!".into());
        let mut approx = Approximations::default();
        let err = merge_timelines(
            &[Timeline {
                source: "a.json",
                samples: &a,
            }],
            &mut approx,
        )
        .unwrap_err();
        assert!(err.to_string().contains("a.json"), "{err}");
        assert!(err.to_string().contains("unix time 50"), "{err}");
    }
}
