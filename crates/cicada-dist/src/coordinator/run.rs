//! A run on the workers: its start (the whole run's options, each worker's stripe, a common
//! start instant), its steering (every call is sent to every worker as the whole run's value)
//! and its end (every worker done or lost, the final report merged).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cicada::runner::RunConfig;
use cicada::segment::{SegmentSequence, Stripe};
use cicada_report::RunReport;
use cicada_report::model::{PlanInfo, WorkerStatus};
use cicada_session::Finished;

use super::{Shared, is_final, view};
use crate::error::DistError;
use crate::protocol::{StartOrder, ToWorker, unix_ms};
use crate::spec::RunSpec;

/// How far ahead the common start is set: time for every worker to receive its order, check
/// the target and be ready (clocks are assumed synchronised, e.g. by NTP; the heartbeat
/// measures the skew, shown per worker).
pub const START_DELAY: Duration = Duration::from_secs(2);

/// Why a run did not start; nothing was sent to the target.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error(transparent)]
    Dist(#[from] DistError),
    #[error(transparent)]
    Unreachable(#[from] cicada::http::UnreachableError),
}

pub(crate) struct RunRecord {
    pub(crate) number: u64,
    pub(crate) start_at: SystemTime,
    pub(crate) members: Vec<Member>,
    pub(crate) stopping: bool,
    pub(crate) ended: bool,
    pub(crate) failure: Option<String>,
    /// Why `--abort-on-threshold-fail` stopped the run (the verdict then fails).
    pub(crate) aborted: Option<String>,
    pub(crate) open: bool,
    pub(crate) whole_plan: PlanInfo,
    /// The report of a run without data (before the first second arrives).
    pub(crate) empty: RunReport,
    /// Bumped on every change of the members' data.
    pub(crate) version: u64,
    pub(crate) cache: Option<(u64, Arc<RunReport>)>,
}

impl RunRecord {
    /// Seconds since the common start (0 before it).
    pub(crate) fn elapsed_s(&self) -> f64 {
        SystemTime::now()
            .duration_since(self.start_at)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

pub(crate) struct Member {
    pub(crate) index: usize,
    pub(crate) conn_id: u64,
    pub(crate) hostname: String,
    pub(crate) pid: u32,
    pub(crate) segment: String,
    pub(crate) status: WorkerStatus,
    pub(crate) last_seen: Instant,
    pub(crate) last_seen_s: f64,
    pub(crate) users: u64,
    pub(crate) cpu_pct: Option<f64>,
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) rtt_ms: Option<f64>,
    pub(crate) skew_ms: Option<f64>,
    /// Its last report: the final one when done, the last second's otherwise.
    pub(crate) latest: Option<RunReport>,
}

impl Member {
    pub(crate) fn label(&self) -> String {
        format!(
            "worker {} ({}, pid {})",
            self.index, self.hostname, self.pid
        )
    }
}

pub(super) async fn start(shared: Arc<Shared>, config: RunConfig) -> Result<DistRun, StartFailure> {
    check_ready(&shared)?;
    if config.check_reachable {
        let addrs = cicada::http::resolve(&config.target).await?;
        cicada::http::preflight(
            &config.target,
            &addrs,
            config.program.defaults.connect_timeout,
        )
        .await?;
    }
    let spec = RunSpec::of(&config);
    let empty = view::empty_report(&config);
    let n = shared.opts.expect_workers;
    let sequence = SegmentSequence::equal(n)
        .ok_or(DistError::NoWorkers)?
        .to_string();
    let mut s = shared.lock();
    let s = &mut *s;
    check_state(s, n)?;
    let number = s.next_run();
    let run_id = uuid::Uuid::new_v4().to_string();
    let start_at = SystemTime::now() + START_DELAY;
    let mut members = Vec::new();
    for (index, conn) in s.conns.iter().enumerate() {
        let conn = conn.as_ref().expect("checked: every slot is attached");
        let segment = Stripe::nth(index as u64, n).map_or_else(String::new, |st| st.to_string());
        let order = StartOrder {
            run_id: run_id.clone(),
            spec: spec.clone(),
            sequence: sequence.clone(),
            index: index as u64,
            start_at_ms: unix_ms(start_at),
        };
        let _ = conn.tx.send(ToWorker::Start(Box::new(order)));
        members.push(Member {
            index,
            conn_id: conn.id,
            hostname: conn.hello.hostname.clone(),
            pid: conn.hello.pid,
            segment,
            status: WorkerStatus::Starting,
            last_seen: Instant::now(),
            last_seen_s: 0.0,
            users: 0,
            cpu_pct: None,
            rss_bytes: None,
            rtt_ms: conn.rtt_ms,
            skew_ms: conn.skew_ms,
            latest: None,
        });
    }
    s.run = Some(RunRecord {
        number,
        start_at,
        members,
        stopping: false,
        ended: false,
        failure: None,
        aborted: None,
        open: config.plan.is_open(),
        whole_plan: config.plan.info(),
        empty,
        version: 0,
        cache: None,
    });
    shared.log.line(&format!(
        "cicada: run {number} ({run_id}) starts on {n} worker(s) in {} s: {}",
        START_DELAY.as_secs(),
        config.plan.describe()
    ));
    let empty = Arc::new(s.run.as_ref().expect("just set").empty.clone());
    shared.bump();
    if let Some(delay) = shared.opts.abort_on_threshold_fail {
        tokio::spawn(watch_thresholds(Arc::clone(&shared), number, delay));
    }
    Ok(DistRun {
        shared: Arc::clone(&shared),
        number,
        empty,
    })
}

/// `--abort-on-threshold-fail`: once a second, from `delay` into the run on, judge the
/// thresholds on the merged numbers; the first that fails on data (a threshold with no data
/// yet is not judged) stops every worker. Ends with the run.
async fn watch_thresholds(shared: Arc<Shared>, number: u64, delay: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut guard = shared.lock();
        let s = &mut *guard;
        let Some(run) = s.run.as_mut().filter(|r| r.number == number) else {
            return;
        };
        if run.ended || run.stopping {
            return;
        }
        let at = run.elapsed_s();
        if at < delay.as_secs_f64() {
            continue;
        }
        let report = view::merged(run);
        let Some(failed) = report
            .thresholds
            .iter()
            .find(|t| !t.passed && t.observed.is_some())
        else {
            continue;
        };
        let why = format!(
            "threshold {} failed at {at:.0} s of the run (measured {:.2}{}) and \
             --abort-on-threshold-fail stopped the run",
            failed.expression,
            failed.observed.unwrap_or_default(),
            failed.unit
        );
        shared.log.line(&format!("cicada: {why}"));
        run.aborted = Some(why);
        run.stopping = true;
        run.version += 1;
        super::Shared::broadcast(s, &ToWorker::Stop);
        drop(guard);
        shared.bump();
        return;
    }
}

fn check_ready(shared: &Shared) -> Result<(), DistError> {
    let s = shared.lock();
    check_state(&s, shared.opts.expect_workers)
}

fn check_state(s: &super::State, expected: u64) -> Result<(), DistError> {
    if s.run_in_progress() {
        return Err(DistError::Busy);
    }
    let attached = s.conns.iter().flatten().count() as u64;
    if attached < expected {
        return Err(DistError::WorkersMissing { attached, expected });
    }
    Ok(())
}

/// A run in progress on the workers; steer it, then [`DistRun::finish`] it.
#[derive(Clone)]
pub struct DistRun {
    shared: Arc<Shared>,
    number: u64,
    /// The run's report without data, for a run already replaced by the next one.
    empty: Arc<RunReport>,
}

impl std::fmt::Debug for DistRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistRun")
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl DistRun {
    fn with<R>(&self, f: impl FnOnce(&mut super::State) -> R) -> Option<R> {
        let mut s = self.shared.lock();
        if s.run.as_ref().is_some_and(|r| r.number == self.number) {
            Some(f(&mut s))
        } else {
            None
        }
    }

    fn run_mut(s: &mut super::State) -> &mut RunRecord {
        s.run.as_mut().expect("checked by `with`")
    }

    /// Wait until every worker is done or lost, and merge the final report exactly.
    pub async fn finish(self) -> Finished {
        let mut changed = self.shared.changed.subscribe();
        loop {
            let all_final = self
                .with(|s| Self::run_mut(s).members.iter().all(|m| is_final(m.status)))
                .unwrap_or(true);
            if all_final || changed.changed().await.is_err() {
                break;
            }
        }
        let finished = self.with(|s| {
            let run = Self::run_mut(s);
            run.ended = true;
            Finished {
                report: view::build(run),
                failure: run.failure.clone(),
            }
        });
        self.shared.bump();
        finished.unwrap_or_else(|| Finished {
            report: self.empty.as_ref().clone(),
            failure: Some("the run was replaced before it ended".into()),
        })
    }

    fn send(&self, msg: ToWorker) {
        self.with(|s| super::Shared::broadcast(s, &msg));
    }
}

impl cicada_web::Steer for DistRun {
    fn stop(&self) {
        self.with(|s| {
            Self::run_mut(s).stopping = true;
            super::Shared::broadcast(s, &ToWorker::Stop);
        });
    }

    fn set_users(&self, users: u64) -> bool {
        let open = self.with(|s| Self::run_mut(s).open).unwrap_or(true);
        if !open {
            self.send(ToWorker::SetUsers { total: users });
        }
        !open
    }

    fn set_rate(&self, per_second: f64) -> bool {
        let open = self.with(|s| Self::run_mut(s).open).unwrap_or(false);
        let ok = open && per_second > 0.0 && per_second.is_finite();
        if ok {
            self.send(ToWorker::SetRate { total: per_second });
        }
        ok
    }

    fn reset_stats(&self) {
        self.send(ToWorker::ResetStats);
    }

    fn snapshot(&self) -> RunReport {
        self.with(|s| view::merged(Self::run_mut(s)).as_ref().clone())
            .unwrap_or_else(|| self.empty.as_ref().clone())
    }

    fn users(&self) -> u64 {
        self.with(|s| {
            Self::run_mut(s)
                .members
                .iter()
                .filter(|m| !is_final(m.status))
                .map(|m| m.users)
                .sum()
        })
        .unwrap_or(0)
    }

    fn elapsed(&self) -> Duration {
        self.with(|s| Duration::from_secs_f64(Self::run_mut(s).elapsed_s()))
            .unwrap_or_default()
    }

    fn is_stopping(&self) -> bool {
        self.with(|s| {
            let run = Self::run_mut(s);
            run.stopping || run.ended || run.members.iter().all(|m| is_final(m.status))
        })
        .unwrap_or(true)
    }
}
