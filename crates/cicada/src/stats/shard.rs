//! Per-shard recording. Users are spread over shards (several per worker thread), so a lock is
//! shared by a handful of users at most; the collector drains each shard once a second.

use std::sync::{Arc, Mutex};

use cicada_report::model::{FailureKind, StatusCodes};

use super::failures::FailureMap;
use super::histogram::{Hist, new_hist, record};
use super::server_timing::ServerTimes;

/// What one request measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Total time in µs (from the intended start in the open model); 0 for a request that was
    /// never sent (e.g. a template variable without a value), which stays out of the histogram.
    pub total_us: u64,
    /// Time to the response head in µs (0 if none arrived).
    pub ttfb_us: u64,
    /// Connect (+TLS) time in µs when this request opened a connection.
    pub connect_us: Option<u64>,
    /// Response body bytes.
    pub bytes: u64,
    /// The response's `Server-Timing` `db` / `pool` / `app` durations, when it sent them.
    pub server: Option<ServerTimes>,
    /// How the request ended, for the status-code breakdown.
    pub status: HttpStatus,
    /// The scenario's checks evaluated on the response, and how many of them passed.
    pub checks_run: u32,
    pub checks_passed: u32,
}

/// How a sample ended, for the status-code breakdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpStatus {
    /// Not an HTTP request (a flow row, a custom timing): left out of the breakdown.
    #[default]
    NotHttp,
    /// An HTTP request that got no status: a transport error, or it could not be sent.
    NoResponse,
    /// The response's status code.
    Code(u16),
}

/// Sums of the `Server-Timing` durations of the responses that reported `db` or `pool`
/// (integers, so merging shards and seconds is exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimingSums {
    /// Responses that reported them.
    pub responses: u64,
    /// Their response times as cicada measured them, µs.
    pub response_us: u64,
    pub db_us: u64,
    pub pool_us: u64,
    pub app_us: u64,
}

impl TimingSums {
    #[inline]
    pub fn add(&mut self, t: &ServerTimes, total_us: u64) {
        self.responses += 1;
        self.response_us += total_us;
        self.db_us += t.db_us.unwrap_or(0);
        self.pool_us += t.pool_us.unwrap_or(0);
        self.app_us += t.app_us.unwrap_or(0);
    }

    pub fn merge(&mut self, o: &TimingSums) {
        self.responses += o.responses;
        self.response_us += o.response_us;
        self.db_us += o.db_us;
        self.pool_us += o.pool_us;
        self.app_us += o.app_us;
    }

    /// The report's figures (shares and means derived from the sums).
    pub fn stats(&self) -> Option<cicada_report::model::ServerTimingStats> {
        cicada_report::model::ServerTimingStats::from_sums_us(
            self.responses,
            self.response_us,
            self.db_us,
            self.pool_us,
            self.app_us,
        )
    }
}

/// Counters and histogram of one row over one interval.
#[derive(Debug, Clone)]
pub struct RowInterval {
    pub hist: Hist,
    pub requests: u64,
    pub failures: u64,
    pub bytes: u64,
    pub connects: u64,
    pub connect_us: u64,
    pub ttfb_count: u64,
    pub ttfb_us: u64,
    pub timing: TimingSums,
    /// Requests by status (cleared, not freed, on each drain: no allocation once a row has
    /// seen its codes).
    pub statuses: StatusCodes,
    pub checks_run: u64,
    pub checks_passed: u64,
}

impl RowInterval {
    pub fn new() -> Self {
        Self {
            hist: new_hist(),
            requests: 0,
            failures: 0,
            bytes: 0,
            connects: 0,
            connect_us: 0,
            ttfb_count: 0,
            ttfb_us: 0,
            timing: TimingSums::default(),
            statuses: StatusCodes::default(),
            checks_run: 0,
            checks_passed: 0,
        }
    }

    /// Add `other` exactly.
    pub fn merge(&mut self, other: &RowInterval) {
        // Both are auto-resizing µs histograms, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.requests += other.requests;
        self.failures += other.failures;
        self.bytes += other.bytes;
        self.connects += other.connects;
        self.connect_us += other.connect_us;
        self.ttfb_count += other.ttfb_count;
        self.ttfb_us += other.ttfb_us;
        self.timing.merge(&other.timing);
        self.statuses.merge(&other.statuses);
        self.checks_run += other.checks_run;
        self.checks_passed += other.checks_passed;
    }

    pub fn reset(&mut self) {
        self.hist.reset();
        self.requests = 0;
        self.failures = 0;
        self.bytes = 0;
        self.connects = 0;
        self.connect_us = 0;
        self.ttfb_count = 0;
        self.ttfb_us = 0;
        self.timing = TimingSums::default();
        self.statuses.clear();
        self.checks_run = 0;
        self.checks_passed = 0;
    }
}

impl Default for RowInterval {
    fn default() -> Self {
        Self::new()
    }
}

/// Open-model scheduling figures of one interval.
#[derive(Debug, Clone)]
pub struct LagInterval {
    /// Schedule lag of started iterations, µs.
    pub hist: Hist,
    pub started: u64,
    pub late: u64,
}

impl Default for LagInterval {
    fn default() -> Self {
        Self {
            hist: new_hist(),
            started: 0,
            late: 0,
        }
    }
}

/// Everything a shard recorded since the last drain.
#[derive(Debug, Clone, Default)]
pub struct ShardData {
    pub rows: Vec<RowInterval>,
    pub failures: FailureMap,
    pub lag: LagInterval,
}

impl ShardData {
    pub fn new(rows: usize) -> Self {
        Self {
            rows: (0..rows).map(|_| RowInterval::new()).collect(),
            failures: FailureMap::default(),
            lag: LagInterval::default(),
        }
    }
}

/// Add one sample to a shard's row.
#[inline]
fn add(
    d: &mut ShardData,
    row: usize,
    sample: &Sample,
    failure: Option<(FailureKind, &str)>,
    excerpt: Option<&[u8]>,
) {
    let r = &mut d.rows[row];
    if sample.total_us > 0 {
        record(&mut r.hist, sample.total_us);
    }
    r.requests += 1;
    r.bytes += sample.bytes;
    if let Some(c) = sample.connect_us {
        r.connects += 1;
        r.connect_us += c;
    }
    if sample.ttfb_us > 0 {
        r.ttfb_count += 1;
        r.ttfb_us += sample.ttfb_us;
    }
    if let Some(t) = &sample.server {
        r.timing.add(t, sample.total_us);
    }
    match sample.status {
        HttpStatus::NotHttp => {}
        HttpStatus::NoResponse => r.statuses.add(0, 1),
        HttpStatus::Code(code) => r.statuses.add(code, 1),
    }
    r.checks_run += u64::from(sample.checks_run);
    r.checks_passed += u64::from(sample.checks_passed);
    if let Some((kind, message)) = failure {
        r.failures += 1;
        d.failures.add(row, kind, message, excerpt, 1);
    }
}

/// One shard: a lock held only for the few instructions of a record.
#[derive(Debug)]
pub struct Shard {
    data: Mutex<ShardData>,
}

impl Shard {
    pub fn new(rows: usize) -> Self {
        Self {
            data: Mutex::new(ShardData::new(rows)),
        }
    }

    /// Record a request; `failure` marks it failed with a kind and message (no response, or
    /// none worth showing: see [`Shard::record_failed_response`]).
    #[inline]
    pub fn record(&self, row: usize, sample: &Sample, failure: Option<(FailureKind, &str)>) {
        self.record_inner(row, sample, failure, None);
    }

    /// Record a request that failed on its response (a status, a check, a capture):
    /// `excerpt` is the start of the response body, copied only if this failure starts a new
    /// group of the shard.
    pub fn record_failed_response(
        &self,
        row: usize,
        sample: &Sample,
        kind: FailureKind,
        message: &str,
        excerpt: &[u8],
    ) {
        self.record_inner(row, sample, Some((kind, message)), Some(excerpt));
    }

    #[inline]
    fn record_inner(
        &self,
        row: usize,
        sample: &Sample,
        failure: Option<(FailureKind, &str)>,
        excerpt: Option<&[u8]>,
    ) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        add(&mut d, row, sample, failure, excerpt);
    }

    /// Record into a row that may be newer than the shard (custom steps make rows at run
    /// time); plain requests use [`Shard::record`].
    pub fn record_grow(&self, row: usize, sample: &Sample, failure: Option<(FailureKind, &str)>) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        if d.rows.len() <= row {
            d.rows.resize_with(row + 1, RowInterval::new);
        }
        add(&mut d, row, sample, failure, None);
    }

    /// Record the start of an open-model iteration `lag_us` after its intended time.
    pub fn record_start(&self, lag_us: u64, late: bool) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        record(&mut d.lag.hist, lag_us);
        d.lag.started += 1;
        if late {
            d.lag.late += 1;
        }
    }

    /// Add this shard's data into `into` and reset it.
    pub fn drain_into(&self, into: &mut ShardData) {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        if into.rows.len() < d.rows.len() {
            into.rows.resize_with(d.rows.len(), RowInterval::new);
        }
        for (acc, r) in into.rows.iter_mut().zip(d.rows.iter_mut()) {
            if r.requests > 0 {
                acc.merge(r);
                r.reset();
            }
        }
        d.failures.drain_into(&mut into.failures);
        if d.lag.started > 0 {
            let _ = into.lag.hist.add(&d.lag.hist);
            into.lag.started += d.lag.started;
            into.lag.late += d.lag.late;
            d.lag = LagInterval::default();
        }
    }
}

/// All shards of a run.
#[derive(Debug)]
pub struct Shards {
    shards: Vec<Arc<Shard>>,
}

impl Shards {
    pub fn new(count: usize, rows: usize) -> Self {
        Self {
            shards: (0..count.max(1))
                .map(|_| Arc::new(Shard::new(rows)))
                .collect(),
        }
    }

    /// The shard for user number `user`.
    pub fn for_user(&self, user: u64) -> Arc<Shard> {
        Arc::clone(&self.shards[(user % self.shards.len() as u64) as usize])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Shard>> {
        self.shards.iter()
    }
}
