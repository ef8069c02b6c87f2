//! The collector: once a second it drains every shard, turns the interval into a timeline
//! sample, and adds it into the run's totals. Merging is histogram addition: exact.

use std::time::Duration;

use cicada_report::model::{CumulativeSample, IntervalRequestSample, IntervalSample};

use super::failures::FailureMap;
use super::histogram::{Hist, encode, mean_ms, min_max_ms, new_hist, percentile_ms, percentiles};
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
    /// The last, usually partial, interval at the end of the run.
    pub last: bool,
}

/// A final interval shorter than this with no completed request adds no timeline sample.
const MIN_FINAL_INTERVAL_S: f64 = 0.25;

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
        // Rows made at run time (by custom steps) join the totals.
        if self.totals.len() < rows.len() {
            self.totals.resize_with(rows.len(), RowInterval::new);
            self.last.resize_with(rows.len(), RowInterval::new);
            self.scratch.rows.resize_with(rows.len(), RowInterval::new);
        }
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
            let key = &rows[i];
            if !crate::scenario::compile::is_flow_method(&key.method) {
                all.merge(r);
            }
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
        // A sliver of an interval after the last tick, with nothing completed in it, is no
        // sample: it would only repeat the last second with zeros.
        let push = !(cx.last && all.requests == 0 && len_s < MIN_FINAL_INTERVAL_S);
        let elapsed = cx.elapsed.as_secs_f64();
        if push {
            self.timeline.push(IntervalSample {
                // Whole seconds at the end of the interval: a partial last one counts as begun.
                elapsed_s: if cx.last {
                    elapsed.ceil()
                } else {
                    elapsed.round()
                } as u64,
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
                server_timing: all.timing.stats(),
                histogram: if all.requests == 0 {
                    None
                } else {
                    encode(&all.hist)
                },
            });
        }
        let _ = self.lag.add(&lag.hist);
        self.started += lag.started;
        self.late += lag.late;
        self.dropped += dropped;
        for (i, r) in self.scratch.rows.iter_mut().enumerate() {
            self.totals[i].merge(r);
            if push {
                self.last[i].reset();
                self.last[i].merge(r);
            }
            r.reset();
        }
        if push {
            self.last_len_s = len_s;
        }
        self.scratch.failures.drain_into(&mut self.failures);
        self.scratch.lag = Default::default();
    }

    /// Forget everything collected so far (Locust's "reset statistics"): totals, failures,
    /// the timeline, and whatever the shards hold that was not collected yet. The run goes on.
    pub fn reset(&mut self, shards: &Shards) {
        for shard in shards.iter() {
            shard.drain_into(&mut self.scratch);
        }
        *self = Self::new(self.totals.len());
    }

    /// Rows collected so far (rows made at run time join at the next collection).
    pub fn row_count(&self) -> usize {
        self.totals.len()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::compile::RowKey;
    use crate::stats::histogram::{new_hist, record};
    use crate::stats::{HttpStatus, Sample};

    fn rows() -> Vec<RowKey> {
        ["/a", "/b"]
            .iter()
            .map(|n| RowKey {
                user_type: "u".into(),
                name: n.to_string(),
                method: "GET".into(),
            })
            .collect()
    }

    fn cx(elapsed_ms: u64, length_ms: u64, last: bool) -> IntervalContext {
        IntervalContext {
            elapsed: Duration::from_millis(elapsed_ms),
            length: Duration::from_millis(length_ms),
            unix_time: 0,
            users: 3,
            dropped: None,
            last,
        }
    }

    #[test]
    fn sharded_recording_merges_exactly() {
        let rows = rows();
        let shards = Shards::new(4, rows.len());
        let mut reference = new_hist();
        let mut timing = crate::stats::TimingSums::default();
        let mut statuses = cicada_report::model::StatusCodes::default();
        let (mut checks_run, mut checks_passed) = (0, 0);
        let mut c = Collector::new(rows.len());
        // Deterministic pseudo-random latencies spread over users (and so shards) and seconds.
        let mut x: u64 = 12345;
        for second in 1..=3u64 {
            for user in 0..40u64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let us = 100 + (x >> 40) % 500_000;
                let sample = Sample {
                    total_us: us,
                    ttfb_us: us / 2,
                    connect_us: None,
                    bytes: 10,
                    // Every third response reports its database time.
                    server: (user % 3 == 0).then_some(crate::stats::ServerTimes {
                        db_us: Some(us / 4),
                        pool_us: Some(us / 8),
                        app_us: None,
                    }),
                    // Statuses and checks vary with the latency; every fifth gets no response.
                    status: match us % 5 {
                        0 => HttpStatus::NoResponse,
                        1 => HttpStatus::Code(500),
                        2 => HttpStatus::Code(201),
                        _ => HttpStatus::Code(200),
                    },
                    checks_run: (us % 3) as u32,
                    checks_passed: (us % 3).min(1) as u32,
                };
                statuses.add([0, 500, 201, 200, 200][(us % 5) as usize], 1);
                checks_run += us % 3;
                checks_passed += (us % 3).min(1);
                if user % 3 == 0 {
                    timing.add(&sample.server.unwrap(), us);
                }
                let failure = us
                    .is_multiple_of(7)
                    .then_some((cicada_report::model::FailureKind::Status, "HTTP 500"));
                shards
                    .for_user(user)
                    .record((user % 2) as usize, &sample, failure);
                record(&mut reference, us);
            }
            c.collect(&shards, &rows, cx(second * 1000, 1000, false), false);
        }
        let mut merged = c.totals[0].clone();
        merged.merge(&c.totals[1]);
        assert_eq!(merged.requests, 120);
        assert_eq!(merged.hist, reference);
        assert_eq!(c.timeline.len(), 3);
        assert!(c.timeline.iter().all(|s| s.requests == 40));
        // Each second carries its histogram; together they are the run's.
        let mut seconds = new_hist();
        for s in &c.timeline {
            seconds
                .add(crate::stats::histogram::decode(s.histogram.as_ref().unwrap()).unwrap())
                .unwrap();
        }
        assert_eq!(seconds, reference);
        assert_eq!(c.timeline[2].total_requests, 120);
        // Status codes and checks too, the codes ascending.
        assert_eq!(merged.statuses, statuses);
        assert_eq!(merged.statuses.total(), 120);
        let codes: Vec<u16> = merged.statuses.codes.iter().map(|c| c.status).collect();
        assert_eq!(codes, [200, 201, 500]);
        assert_eq!(
            (merged.checks_run, merged.checks_passed),
            (checks_run, checks_passed)
        );
        // Server-Timing sums merge exactly over shards, rows and seconds.
        assert_eq!(merged.timing, timing);
        assert_eq!(merged.timing.responses, 3 * 14);
        let per_second: u64 = c
            .timeline
            .iter()
            .map(|s| s.server_timing.as_ref().unwrap().responses)
            .sum();
        assert_eq!(per_second, timing.responses);
        assert_eq!(
            merged.timing.stats().unwrap().db_ms,
            timing.db_us as f64 / 1000.0
        );
        let failures: u64 = c.failures.sorted().iter().map(|f| f.3).sum();
        assert_eq!(failures, merged.failures);
        // A sliver after the last tick with nothing in it adds no sample and keeps current RPS.
        c.collect(&shards, &rows, cx(3010, 10, true), false);
        assert_eq!(c.timeline.len(), 3);
        assert_eq!(c.last[0].requests + c.last[1].requests, 40);
        // A partial last interval with requests is a sample, counted as begun.
        shards.for_user(0).record(
            0,
            &Sample {
                total_us: 5,
                ..Sample::default()
            },
            None,
        );
        c.collect(&shards, &rows, cx(3400, 390, true), false);
        assert_eq!(c.timeline.len(), 4);
        assert_eq!(c.timeline[3].elapsed_s, 4);
        assert_eq!(c.timeline[3].requests, 1);
    }

    #[test]
    fn reset_forgets_collected_and_pending_data() {
        let rows = rows();
        let shards = Shards::new(2, rows.len());
        let mut c = Collector::new(rows.len());
        let sample = Sample {
            total_us: 1000,
            ttfb_us: 500,
            connect_us: None,
            bytes: 10,
            server: None,
            status: HttpStatus::Code(500),
            ..Sample::default()
        };
        let fail = Some((cicada_report::model::FailureKind::Status, "HTTP 500"));
        shards.for_user(0).record(0, &sample, fail);
        c.collect(&shards, &rows, cx(1000, 1000, false), false);
        // Recorded but not collected yet: reset drops it too.
        shards.for_user(1).record(1, &sample, None);
        c.reset(&shards);
        assert_eq!((c.total_requests(), c.total_failures()), (0, 0));
        assert!(c.timeline().is_empty() && c.failures.is_empty());
        shards.for_user(0).record(1, &sample, None);
        c.collect(&shards, &rows, cx(2000, 1000, false), false);
        assert_eq!(c.total_requests(), 1);
        assert_eq!(c.totals[0].requests + c.totals[1].requests, 1);
    }
}
