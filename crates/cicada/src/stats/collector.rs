//! The collector: once a second it drains every shard, turns the interval into a timeline
//! sample, and adds it into the run's totals. Merging is histogram addition: exact.

use std::time::Duration;

use cicada_report::model::{CumulativeSample, IntervalRequestSample, IntervalSample};

use super::failures::FailureMap;
use super::histogram::{Hist, mean_ms, min_max_ms, new_hist, percentile_ms, percentiles};
use super::shard::{RowInterval, ShardData, Shards};

/// Running totals and the per-second timeline.
#[derive(Debug)]
pub struct Collector {
    pub(crate) totals: Vec<RowInterval>,
    pub(crate) failures: FailureMap,
    pub(crate) timeline: Vec<IntervalSample>,
    /// The last complete interval's rows (for "current RPS").
    pub(crate) last: Vec<RowInterval>,
    pub(crate) last_len_s: f64,
    pub(crate) lag: Hist,
    pub(crate) started: u64,
    pub(crate) late: u64,
    pub(crate) dropped: u64,
    pub(crate) peak_users: u64,
    scratch: ShardData,
    /// All rows merged since the start (for the cumulative columns of each sample).
    all: RowInterval,
    total_requests: u64,
    total_failures: u64,
}

/// What the runner knows about an interval besides the shards.
#[derive(Debug, Clone, Copy)]
pub struct IntervalContext {
    /// Time since the start of traffic at the end of the interval.
    pub elapsed: Duration,
    /// Length of the interval.
    pub length: Duration,
    pub unix_time: u64,
    /// Users alive (closed) or iterations in flight (open).
    pub users: u64,
    /// Open model: iterations dropped in the interval; `None` for the closed model.
    pub dropped: Option<u64>,
}

impl Collector {
    pub fn new(rows: usize) -> Self {
        Self {
            totals: (0..rows).map(|_| RowInterval::new()).collect(),
            failures: FailureMap::default(),
            timeline: Vec::new(),
            last: (0..rows).map(|_| RowInterval::new()).collect(),
            last_len_s: 1.0,
            lag: new_hist(),
            started: 0,
            late: 0,
            dropped: 0,
            peak_users: 0,
            scratch: ShardData::new(rows),
            all: RowInterval::new(),
            total_requests: 0,
            total_failures: 0,
        }
    }

    /// Drain every shard into one interval, record it, and add it to the totals.
    pub fn collect(
        &mut self,
        shards: &Shards,
        rows: &[crate::scenario::compile::RowKey],
        cx: IntervalContext,
        open: bool,
    ) {
        for shard in shards.iter() {
            shard.drain_into(&mut self.scratch);
        }
        let len_s = cx.length.as_secs_f64().max(1e-3);
        let mut all = RowInterval::new();
        let mut by_request = Vec::new();
        for (i, r) in self.scratch.rows.iter().enumerate() {
            if r.requests == 0 {
                continue;
            }
            all.merge(r);
            let key = &rows[i];
            by_request.push(IntervalRequestSample {
                user_type: Some(key.user_type.clone()),
                method: key.method.clone(),
                name: key.name.clone(),
                requests: r.requests,
                failures: r.failures,
                p50_ms: percentile_ms(&r.hist, 50.0),
                p95_ms: percentile_ms(&r.hist, 95.0),
                p99_ms: percentile_ms(&r.hist, 99.0),
            });
        }
        self.all.merge(&all);
        let (min_ms, max_ms) = min_max_ms(&self.all.hist);
        let cumulative = CumulativeSample {
            percentiles: percentiles(&self.all.hist),
            mean_ms: mean_ms(&self.all.hist),
            min_ms,
            max_ms,
            avg_size_bytes: if self.all.requests == 0 {
                0.0
            } else {
                self.all.bytes as f64 / self.all.requests as f64
            },
        };
        self.total_requests += all.requests;
        self.total_failures += all.failures;
        self.peak_users = self.peak_users.max(cx.users);
        let lag = &self.scratch.lag;
        let dropped = cx.dropped.unwrap_or(0);
        self.timeline.push(IntervalSample {
            elapsed_s: cx.elapsed.as_secs_f64().round() as u64,
            unix_time: cx.unix_time,
            users: cx.users,
            requests: all.requests,
            failures: all.failures,
            rps: all.requests as f64 / len_s,
            failures_per_s: all.failures as f64 / len_s,
            percentiles: percentiles(&all.hist),
            mean_ms: mean_ms(&all.hist),
            total_requests: self.total_requests,
            total_failures: self.total_failures,
            by_request,
            late_iterations: open.then_some(lag.late),
            dropped_iterations: open.then_some(dropped),
            schedule_lag_p99_ms: open.then(|| percentile_ms(&lag.hist, 99.0)),
            cumulative: Some(cumulative),
        });
        let _ = self.lag.add(&lag.hist);
        self.started += lag.started;
        self.late += lag.late;
        self.dropped += dropped;
        for (i, r) in self.scratch.rows.iter_mut().enumerate() {
            self.totals[i].merge(r);
            self.last[i].reset();
            self.last[i].merge(r);
            r.reset();
        }
        self.last_len_s = len_s;
        self.failures.merge(&self.scratch.failures);
        self.scratch.failures.clear();
        self.scratch.lag = Default::default();
    }

    pub fn total_requests(&self) -> u64 {
        self.total_requests
    }

    pub fn total_failures(&self) -> u64 {
        self.total_failures
    }

    pub fn timeline(&self) -> &[IntervalSample] {
        &self.timeline
    }
}
