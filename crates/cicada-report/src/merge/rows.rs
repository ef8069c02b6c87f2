//! Request rows merged exactly: histograms added and every latency figure recomputed from the
//! sum; counts, bytes and `Server-Timing` sums added.

use std::collections::BTreeMap;

use super::{Approximations, MergeError};
use crate::histogram::{
    Hist, decode, distribution, encode, mean_ms, min_max_ms, new_hist, percentiles,
};
use crate::model::{CheckStats, RequestStats, ServerTimingStats, StatusCodes};

/// A row's key: user type, method, name (the model's row identity).
pub(super) type RowKey = (Option<String>, String, String);

/// Decode the histogram a row or second carries; `requests > 0` without one is refused.
pub(super) fn decode_required(
    path: &str,
    what: impl Fn() -> String,
    requests: u64,
    histogram: Option<&str>,
) -> Result<Option<Hist>, MergeError> {
    match histogram {
        None if requests == 0 => Ok(None),
        None => Err(MergeError::NoHistogram {
            path: path.to_string(),
            what: what(),
            requests,
        }),
        Some(text) => decode(text)
            .map(Some)
            .ok_or_else(|| MergeError::BadHistogram {
                path: path.to_string(),
                what: what(),
            }),
    }
}

/// `Server-Timing` sums in µs (the model stores ms that came from µs, so this is exact).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TimingSums {
    responses: u64,
    response_us: u64,
    db_us: u64,
    pool_us: u64,
    app_us: u64,
}

impl TimingSums {
    pub(super) fn add(&mut self, s: Option<&ServerTimingStats>) {
        let Some(s) = s else { return };
        let us = |ms: f64| (ms * 1000.0).round() as u64;
        self.responses += s.responses;
        self.response_us += us(s.response_ms);
        self.db_us += us(s.db_ms);
        self.pool_us += us(s.pool_ms);
        self.app_us += us(s.app_ms);
    }

    pub(super) fn stats(&self) -> Option<ServerTimingStats> {
        ServerTimingStats::from_sums_us(
            self.responses,
            self.response_us,
            self.db_us,
            self.pool_us,
            self.app_us,
        )
    }
}

/// One merged row in the making.
#[derive(Debug)]
pub(super) struct RowAcc {
    pub(super) hist: Hist,
    pub(super) requests: u64,
    pub(super) failures: u64,
    bytes: u64,
    current_rps: f64,
    current_failures_per_s: f64,
    /// (sum of mean × requests, requests) of the rows that had a connect / TTFB mean.
    connect: Option<(f64, u64)>,
    ttfb: Option<(f64, u64)>,
    timing: TimingSums,
    statuses: StatusCodes,
    checks: CheckStats,
    /// How many reports had this row.
    reports: usize,
    /// Kept as it was when only one report had the row (exact; the rest is recomputed).
    only: Option<RequestStats>,
}

impl RowAcc {
    pub(super) fn new() -> Self {
        Self {
            hist: new_hist(),
            requests: 0,
            failures: 0,
            bytes: 0,
            current_rps: 0.0,
            current_failures_per_s: 0.0,
            connect: None,
            ttfb: None,
            timing: TimingSums::default(),
            statuses: StatusCodes::default(),
            checks: CheckStats::default(),
            reports: 0,
            only: None,
        }
    }

    /// Add one report's row (with its decoded histogram).
    pub(super) fn add(&mut self, row: &RequestStats, hist: Option<&Hist>) {
        if let Some(h) = hist {
            // Both histograms resize themselves: adding cannot run out of range.
            let _ = self.hist.add(h);
        }
        self.requests += row.requests;
        self.failures += row.failures;
        self.bytes += row.total_bytes;
        self.current_rps += row.current_rps;
        self.current_failures_per_s += row.current_failures_per_s;
        let weigh = |acc: &mut Option<(f64, u64)>, mean: Option<f64>| {
            if let Some(m) = mean {
                let (sum, n) = acc.get_or_insert((0.0, 0));
                *sum += m * row.requests as f64;
                *n += row.requests;
            }
        };
        weigh(&mut self.connect, row.connect_mean_ms);
        weigh(&mut self.ttfb, row.ttfb_mean_ms);
        self.timing.add(row.server_timing.as_ref());
        self.statuses.merge(&row.status_codes);
        if let Some(c) = &row.checks {
            self.checks.evaluated += c.evaluated;
            self.checks.passed += c.passed;
        }
        self.reports += 1;
        self.only = (self.reports == 1).then(|| row.clone());
    }

    /// The merged row over a run of `duration_s` seconds.
    pub(super) fn finish(
        &self,
        key: &RowKey,
        duration_s: f64,
        approx: &mut Approximations,
    ) -> RequestStats {
        let (min_ms, max_ms) = min_max_ms(&self.hist);
        let d = duration_s.max(1e-3);
        let ratio = |n: u64| {
            if self.requests == 0 {
                0.0
            } else {
                n as f64 / self.requests as f64
            }
        };
        let several = self.reports > 1;
        let weighted = |acc: Option<(f64, u64)>, own: Option<f64>| match acc {
            _ if !several => own,
            Some((sum, n)) if n > 0 => Some(sum / n as f64),
            _ => None,
        };
        let only = self.only.as_ref();
        let connect_mean_ms = weighted(self.connect, only.and_then(|r| r.connect_mean_ms));
        let ttfb_mean_ms = weighted(self.ttfb, only.and_then(|r| r.ttfb_mean_ms));
        if several && (connect_mean_ms.is_some() || ttfb_mean_ms.is_some()) {
            approx.connect_ttfb = true;
        }
        if several {
            approx.current_rps = true;
        }
        RequestStats {
            user_type: key.0.clone(),
            method: key.1.clone(),
            name: key.2.clone(),
            requests: self.requests,
            failures: self.failures,
            failure_ratio: ratio(self.failures),
            min_ms,
            max_ms,
            mean_ms: mean_ms(&self.hist),
            percentiles: percentiles(&self.hist),
            avg_size_bytes: ratio(self.bytes),
            total_bytes: self.bytes,
            rps: self.requests as f64 / d,
            failures_per_s: self.failures as f64 / d,
            current_rps: self.current_rps,
            current_failures_per_s: self.current_failures_per_s,
            connect_mean_ms,
            ttfb_mean_ms,
            distribution: distribution(&self.hist),
            // One report's row keeps its histogram's bytes (the same histogram).
            histogram: match only {
                Some(r) if !several => r.histogram.clone(),
                _ if self.requests == 0 => None,
                _ => encode(&self.hist),
            },
            server_timing: self.timing.stats(),
            status_codes: self.statuses.clone(),
            checks: CheckStats::some(self.checks.evaluated, self.checks.passed),
        }
    }
}

/// Rows keyed and accumulated across reports, in the model's order (name, method, user type).
#[derive(Debug, Default)]
pub(super) struct Rows {
    rows: BTreeMap<(String, String, Option<String>), RowAcc>,
}

impl Rows {
    pub(super) fn add(&mut self, row: &RequestStats, hist: Option<&Hist>) {
        let key = (row.name.clone(), row.method.clone(), row.user_type.clone());
        self.rows
            .entry(key)
            .or_insert_with(RowAcc::new)
            .add(row, hist);
    }

    /// The merged rows with their histograms, in report order.
    pub(super) fn finish(
        self,
        duration_s: f64,
        approx: &mut Approximations,
    ) -> (Vec<RequestStats>, Vec<Hist>) {
        self.rows
            .into_iter()
            .map(|((name, method, user_type), acc)| {
                let stats = acc.finish(&(user_type, method, name), duration_s, approx);
                (stats, acc.hist)
            })
            .unzip()
    }
}
