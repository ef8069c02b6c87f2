//! The run states behind the API: waiting → running → stopping → stopped, and a new test
//! after a stop. One run at a time; starts are serialised; the final report of the last run
//! is kept for downloads until the next start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cicada::launch::LaunchOptions;
use cicada::scenario::Scenario;
use cicada_report::RunReport;
use cicada_session::{Finished, StartError, prepare};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::driver::{Driver, Steer};
use crate::form::{self, FormError, ScenarioInfo, StartRequest};
use crate::resources::{LiveResources, ResourcesNow};

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// No run yet: waiting for a start.
    Waiting,
    /// A run is sending load.
    Running,
    /// Asked to stop (or its time is up): users are finishing their current request.
    Stopping,
    /// The last run ended; its report is kept; a new test may start.
    Stopped,
}

/// Why a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Bad input in the request (HTTP 400).
    #[error(transparent)]
    Form(#[from] FormError),
    /// The scenario and the request do not make a valid run (HTTP 400).
    #[error("{0}")]
    Setup(String),
    /// Not possible in the current state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The target did not accept a connection (HTTP 502); nothing was sent.
    #[error("{0}")]
    Unreachable(String),
    /// The engine could not start (HTTP 500).
    #[error("{0}")]
    Engine(String),
}

/// What happens when a run ends: the CLI writes the requested reports, prints the summary
/// and returns the run's exit code (as headless `cicada run` would).
pub type OnFinished = Box<dyn Fn(&Finished) -> i32 + Send + Sync>;

/// The current run, or the last one.
struct Current {
    state: RunState,
    /// Runs started so far (the current or last run's number, from 1).
    run: u64,
    steer: Option<Arc<dyn Steer>>,
    open: bool,
    /// The current run's spawn rate (closed model), used when users change.
    spawn_rate: f64,
    ramp: Option<JoinHandle<()>>,
    /// The level the last ramp of this run set (`NO_LEVEL`: none yet). A new change ramps from
    /// it, not from the users alive, which may still be catching up with it.
    level: Arc<AtomicU64>,
    /// The last run's final report (with the analysis).
    last: Option<Arc<RunReport>>,
    /// The last run's exit code, as `on_finished` judged it.
    exit_code: Option<i32>,
    /// Why the current run is stopping, when it was asked to.
    stop: Option<StopCause>,
}

/// Who asked the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopCause {
    /// The page's Stop button or `POST /api/stop`: the test's normal end, judged on its numbers.
    User,
    /// Ctrl-C / SIGTERM while running: the report stays marked interrupted (exit 130).
    Signal,
}

/// The controller of a web session (cheap to clone; all clones share one state).
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

struct Inner {
    driver: Arc<dyn Driver>,
    base: LaunchOptions,
    scenario: Scenario,
    info: ScenarioInfo,
    workers: usize,
    current: Mutex<Current>,
    starting: tokio::sync::Mutex<()>,
    changed: watch::Sender<(RunState, u64)>,
    on_finished: OnFinished,
    resources: LiveResources,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("scenario", &self.inner.info.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// No ramp has set a level yet.
const NO_LEVEL: u64 = u64::MAX;

/// How often a spawn-rate ramp moves the users.
const RAMP_TICK: Duration = Duration::from_millis(100);

impl Controller {
    /// A controller for `scenario` (already loaded from `base.scenario_path`), starting runs on
    /// `driver` with a runtime of `workers` threads.
    pub fn new(
        driver: Arc<dyn Driver>,
        base: LaunchOptions,
        scenario: Scenario,
        workers: usize,
        on_finished: OnFinished,
    ) -> Self {
        let info = form::scenario_info(&base, &scenario);
        let (changed, _) = watch::channel((RunState::Waiting, 0));
        Self {
            inner: Arc::new(Inner {
                driver,
                base,
                scenario,
                info,
                workers,
                current: Mutex::new(Current {
                    state: RunState::Waiting,
                    run: 0,
                    steer: None,
                    open: false,
                    spawn_rate: 1.0,
                    ramp: None,
                    level: Arc::new(AtomicU64::new(NO_LEVEL)),
                    last: None,
                    exit_code: None,
                    stop: None,
                }),
                starting: tokio::sync::Mutex::new(()),
                changed,
                on_finished,
                resources: LiveResources::new(None),
            }),
        }
    }

    /// Also sample this process as the target's CPU and RSS on the live view (a managed
    /// target's PID, or `--target-pid`).
    pub fn with_target_pid(self, pid: Option<u32>) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.resources = LiveResources::new(pid);
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => Self { inner },
        }
    }

    /// The generator's and the target's CPU and RSS now.
    pub fn resources(&self) -> ResourcesNow {
        self.inner.resources.now()
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.inner.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, c: &mut Current, state: RunState) {
        c.state = state;
        self.inner.changed.send_replace((state, c.run));
    }

    /// The scenario and the form's defaults.
    pub fn info(&self) -> &ScenarioInfo {
        &self.inner.info
    }

    pub fn state(&self) -> RunState {
        let mut c = self.current();
        // A run that reached its run time stops by itself.
        if c.state == RunState::Running && c.steer.as_ref().is_some_and(|s| s.is_stopping()) {
            self.set_state(&mut c, RunState::Stopping);
        }
        c.state
    }

    /// The current (or last) run's number, 0 before the first start.
    pub fn run_number(&self) -> u64 {
        self.current().run
    }

    /// Whether the current or last run is open-model.
    pub fn is_open(&self) -> bool {
        let c = self.current();
        if c.run == 0 {
            self.inner.info.model == "open"
        } else {
            c.open
        }
    }

    /// The last run's exit code (`None` before any run ended).
    pub fn exit_code(&self) -> Option<i32> {
        self.current().exit_code
    }

    /// State changes `(state, run)`, for waiting on the end of a run.
    pub fn subscribe(&self) -> watch::Receiver<(RunState, u64)> {
        self.inner.changed.subscribe()
    }

    /// Start a run (allowed while waiting or stopped). Returns the run's number.
    pub async fn start(&self, req: &StartRequest) -> Result<u64, ControlError> {
        let _one_at_a_time = self.inner.starting.lock().await;
        if matches!(self.state(), RunState::Running | RunState::Stopping) {
            return Err(ControlError::Conflict(
                "a run is in progress: stop it first".into(),
            ));
        }
        let options = form::launch_options(&self.inner.base, &self.inner.scenario, req)?;
        let config = prepare(&options, self.inner.workers)
            .map_err(|e| ControlError::Setup(e.to_string()))?;
        let open = config.plan.is_open();
        let spawn_rate = options.load.spawn_rate.unwrap_or(1.0);
        let started = self.inner.driver.start(config).await.map_err(|e| match e {
            StartError::Unreachable(e) => ControlError::Unreachable(format!(
                "{e} (nothing was sent; start the target or fix the host)"
            )),
            StartError::Engine(e) => ControlError::Engine(e.to_string()),
            e @ (StartError::Analysis(_) | StartError::Monitor(_)) => {
                ControlError::Setup(e.to_string())
            }
        })?;
        let run = {
            let mut c = self.current();
            c.run += 1;
            c.steer = Some(started.steer);
            c.open = open;
            c.spawn_rate = spawn_rate;
            c.last = None;
            c.stop = None;
            c.level = Arc::new(AtomicU64::new(NO_LEVEL));
            self.set_state(&mut c, RunState::Running);
            c.run
        };
        let this = self.clone();
        tokio::spawn(async move {
            let end = started.end.await;
            let stopped_by_user = this.current().stop == Some(StopCause::User);
            let (report, code) = match end {
                Ok(mut finished) => {
                    if stopped_by_user {
                        stopped_from_the_page(&mut finished.report);
                    }
                    let code = (this.inner.on_finished)(&finished);
                    (Some(Arc::new(finished.report)), code)
                }
                Err(message) => {
                    eprintln!("error: run {run} failed: {message}");
                    (None, 4)
                }
            };
            let mut c = this.current();
            if let Some(r) = c.ramp.take() {
                r.abort();
            }
            c.steer = None;
            c.last = report;
            c.exit_code = Some(code);
            this.set_state(&mut c, RunState::Stopped);
        });
        Ok(run)
    }

    fn running(&self) -> Result<Arc<dyn Steer>, ControlError> {
        let c = self.current();
        match (&c.steer, c.state) {
            (Some(s), RunState::Running) if !s.is_stopping() => Ok(Arc::clone(s)),
            _ => Err(ControlError::Conflict(format!(
                "no run is in progress (the state is {})",
                state_name(c.state)
            ))),
        }
    }

    /// Stop the run gracefully (the page's Stop button, `POST /api/stop`): the test's normal
    /// end, so its report is not marked interrupted and its exit code is its verdict's.
    pub fn stop(&self) -> Result<(), ControlError> {
        self.stop_for(StopCause::User)
    }

    fn stop_for(&self, cause: StopCause) -> Result<(), ControlError> {
        let steer = self.running()?;
        let mut c = self.current();
        c.stop = Some(cause);
        steer.stop();
        if let Some(r) = c.ramp.take() {
            r.abort();
        }
        self.set_state(&mut c, RunState::Stopping);
        Ok(())
    }

    /// Closed model: move to `users`, at `spawn_rate` users per second (default: the run's).
    pub fn set_users(&self, users: u64, spawn_rate: Option<f64>) -> Result<(), ControlError> {
        let steer = self.running()?;
        if let Some(v) = spawn_rate.filter(|v| !(*v > 0.0 && v.is_finite())) {
            return Err(FormError::NotPositive {
                field: "spawn_rate",
                value: v,
            }
            .into());
        }
        let mut c = self.current();
        if c.open {
            return Err(ControlError::Conflict(
                "this run is open-model: set its rate instead of users".into(),
            ));
        }
        if let Some(rate) = spawn_rate {
            c.spawn_rate = rate;
        }
        if let Some(r) = c.ramp.take() {
            r.abort();
        }
        let from = match c.level.load(Ordering::SeqCst) {
            NO_LEVEL => steer.users(),
            set => set,
        };
        c.ramp = Some(tokio::spawn(ramp(
            steer,
            from,
            users,
            c.spawn_rate,
            Arc::clone(&c.level),
        )));
        Ok(())
    }

    /// Open model: start iterations at `per_second` from now on.
    pub fn set_rate(&self, per_second: f64) -> Result<(), ControlError> {
        let steer = self.running()?;
        if !(per_second > 0.0 && per_second.is_finite()) {
            return Err(FormError::NotPositive {
                field: "rate",
                value: per_second,
            }
            .into());
        }
        if !steer.set_rate(per_second) {
            return Err(ControlError::Conflict(
                "this run is closed-model: set its users instead of a rate".into(),
            ));
        }
        Ok(())
    }

    /// Forget the statistics so far; the run goes on.
    pub fn reset(&self) -> Result<(), ControlError> {
        self.running()?.reset_stats();
        Ok(())
    }

    /// The current run's report so far, else the last run's final report.
    pub fn report(&self) -> Option<Arc<RunReport>> {
        let c = self.current();
        match &c.steer {
            Some(s) => Some(Arc::new(s.snapshot())),
            None => c.last.clone(),
        }
    }

    /// Users alive (closed) or in flight (open) in the current run.
    pub fn users(&self) -> Option<u64> {
        self.current().steer.as_ref().map(|s| s.users())
    }

    /// Seconds since the current run's traffic started.
    pub fn elapsed(&self) -> Option<Duration> {
        self.current().steer.as_ref().map(|s| s.elapsed())
    }

    /// Interrupt the current run, if any (Ctrl-C / SIGTERM: its report stays marked
    /// interrupted, as headless), and wait until it has ended (reports written). True when a
    /// run was interrupted: it was running, or stopping by its run time — not when the user
    /// had already stopped it (that run is judged on its numbers).
    pub async fn interrupt_and_wait(&self) -> bool {
        let interrupted = self.stop_for(StopCause::Signal).is_ok() || {
            let mut c = self.current();
            let ending_by_itself = c.steer.is_some() && c.stop.is_none();
            if ending_by_itself {
                c.stop = Some(StopCause::Signal);
            }
            ending_by_itself
        };
        self.wait_until_ended().await;
        interrupted
    }

    /// Stop the current run, if any, and wait until it has ended (reports written).
    pub async fn stop_and_wait(&self) {
        let _ = self.stop();
        self.wait_until_ended().await;
    }

    async fn wait_until_ended(&self) {
        let mut changes = self.subscribe();
        while matches!(self.state(), RunState::Running | RunState::Stopping) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }
}

pub(crate) fn state_name(s: RunState) -> &'static str {
    match s {
        RunState::Waiting => "waiting",
        RunState::Running => "running",
        RunState::Stopping => "stopping",
        RunState::Stopped => "stopped",
    }
}

/// A run stopped from the page ended as the user meant it to: not an interruption (the
/// engine marks every early stop one), and a warning that says how it ended instead.
fn stopped_from_the_page(report: &mut RunReport) {
    if !report.run.interrupted {
        return;
    }
    report.run.interrupted = false;
    let warnings = &mut report.verdict.warnings;
    warnings.retain(|w| w != INTERRUPTED_WARNING);
    warnings.push(format!(
        "the run was stopped from the web UI after {:.0} s",
        report.run.duration_s
    ));
}

/// The engine's warning on an interrupted run (`cicada::stats::report`).
const INTERRUPTED_WARNING: &str = "the run was interrupted: results are partial";

/// Move the run's users from `from` to `target` at `per_second`, as Locust's spawn rate does
/// (up and down alike), recording each level set in `level`.
async fn ramp(
    steer: Arc<dyn Steer>,
    from: u64,
    target: u64,
    per_second: f64,
    level: Arc<AtomicU64>,
) {
    let from = from as f64;
    let to = target as f64;
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(RAMP_TICK);
    loop {
        ticker.tick().await;
        let moved = per_second * started.elapsed().as_secs_f64();
        let level_now = if to >= from {
            (from + moved).min(to).floor()
        } else {
            (from - moved).max(to).ceil()
        };
        if steer.is_stopping() {
            return;
        }
        steer.set_users(level_now as u64);
        level.store(level_now as u64, Ordering::SeqCst);
        if level_now == to {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn no_level() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(NO_LEVEL))
    }

    /// Records the user levels a ramp sets.
    #[derive(Default)]
    struct Levels {
        set: Mutex<Vec<u64>>,
        stopping: AtomicBool,
    }

    impl Steer for Levels {
        fn stop(&self) {
            self.stopping.store(true, Ordering::SeqCst);
        }
        fn set_users(&self, users: u64) -> bool {
            self.set.lock().unwrap().push(users);
            true
        }
        fn set_rate(&self, _: f64) -> bool {
            false
        }
        fn reset_stats(&self) {}
        fn snapshot(&self) -> RunReport {
            cicada_report::sample::sample_report()
        }
        fn users(&self) -> u64 {
            self.set.lock().unwrap().last().copied().unwrap_or(0)
        }
        fn elapsed(&self) -> Duration {
            Duration::ZERO
        }
        fn is_stopping(&self) -> bool {
            self.stopping.load(Ordering::SeqCst)
        }
    }

    fn levels(steer: &Levels) -> Vec<u64> {
        steer.set.lock().unwrap().clone()
    }

    fn distinct(levels: &[u64]) -> usize {
        let mut l = levels.to_vec();
        l.dedup();
        l.len()
    }

    #[tokio::test]
    async fn ramps_up_and_down_at_the_spawn_rate_in_steps() {
        let steer = Arc::new(Levels::default());
        let level = no_level();
        ramp(steer.clone(), 0, 40, 20.0, level.clone()).await;
        assert_eq!(level.load(Ordering::SeqCst), 40);
        let up = levels(&steer);
        assert_eq!(up.last(), Some(&40));
        assert!(up.windows(2).all(|w| w[0] <= w[1]), "never down: {up:?}");
        assert!(distinct(&up) >= 3, "in steps, not at once: {up:?}");

        steer.set.lock().unwrap().clear();
        steer.set_users(40);
        ramp(steer.clone(), 40, 0, 20.0, level.clone()).await;
        let down = levels(&steer);
        assert_eq!(down.last(), Some(&0));
        assert!(down.windows(2).all(|w| w[0] >= w[1]), "never up: {down:?}");
        assert!(distinct(&down) >= 3, "in steps, not at once: {down:?}");
    }

    #[tokio::test]
    async fn a_new_change_cancels_the_ramp_in_progress_and_a_stop_ends_it() {
        let steer = Arc::new(Levels::default());
        // As `Controller::set_users` does: abort the old ramp, start the new one from the
        // level it reached.
        let level = no_level();
        let old = tokio::spawn(ramp(steer.clone(), 0, 1_000, 10.0, level.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        old.abort();
        let _ = old.await;
        let reached = level.load(Ordering::SeqCst);
        assert!(reached < 1_000);
        assert_eq!(reached, steer.users());
        ramp(steer.clone(), reached, 2, 1_000.0, level.clone()).await;
        let after = levels(&steer);
        tokio::time::sleep(RAMP_TICK * 3).await;
        assert_eq!(
            levels(&steer),
            after,
            "the old ramp moved nothing after its abort"
        );
        assert_eq!(steer.users(), 2);

        steer.stop();
        let before = levels(&steer).len();
        ramp(steer.clone(), 2, 50, 1.0, level).await;
        assert_eq!(levels(&steer).len(), before, "a stopping run is not ramped");
    }
}
