//! A session: the managed target, opened once, and the runs made against it. `cicada run`
//! makes one run; the web UI makes one per "start" from the page, on the same target.

use std::time::Instant;

use cicada::launch::{LaunchOptions, SetupError, prepare as prepare_config};
use cicada::runner::{RunConfig, RunControl, RunError, RunHandle, Runner};
use cicada_report::RunReport;
use cicada_target::{ManagedTarget, TargetSpec};

use crate::analysis::{self, AnalysisOptions};
use crate::log::Log;
use crate::target;

/// Load, validate and plan a run for a runtime of `workers` threads. Sends nothing.
pub fn prepare(options: &LaunchOptions, workers: usize) -> Result<RunConfig, SetupError> {
    let mut config = prepare_config(options)?;
    config.worker_threads = workers;
    config.shards = workers * 4;
    Ok(config)
}

/// What a session holds for all its runs.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// The system under test to start first and stop last (`--target-cmd`).
    pub target: Option<TargetSpec>,
    /// What to collect during each run.
    pub analysis: AnalysisOptions,
}

/// Why a run did not start. Nothing was sent, except for [`StartError::Monitor`] (the run
/// was stopped at once).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The analysis options are invalid (bad input).
    #[error("{0}")]
    Analysis(String),
    /// The target did not accept a connection.
    #[error(transparent)]
    Unreachable(cicada::http::UnreachableError),
    /// The engine could not start.
    #[error(transparent)]
    Engine(RunError),
    /// The monitor could not start (bad input, e.g. a `--target-pid` that does not exist).
    #[error("{0}")]
    Monitor(String),
}

/// An open session.
pub struct Session {
    target: Option<ManagedTarget>,
    analysis: AnalysisOptions,
    log: Box<dyn Log>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .field("analysis", &self.analysis)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Start the managed target, if any; give up if `interrupted` resolves first.
    pub async fn open(
        options: SessionOptions,
        log: Box<dyn Log>,
        interrupted: impl Future<Output = ()>,
    ) -> Result<Self, target::StartError> {
        let target = match &options.target {
            Some(spec) => Some(target::start(spec, interrupted, log.as_ref()).await?),
            None => None,
        };
        Ok(Self {
            target,
            analysis: options.analysis,
            log,
        })
    }

    /// The session's progress sink.
    pub fn log(&self) -> &dyn Log {
        self.log.as_ref()
    }

    /// The managed target's PID.
    pub fn target_pid(&self) -> Option<u32> {
        self.target.as_ref().map(ManagedTarget::pid)
    }

    /// Start a run: validate the analysis, start the engine (it checks the target answers),
    /// then the monitor.
    pub async fn start(&self, config: RunConfig) -> Result<Running, StartError> {
        let plan =
            analysis::Plan::new(&self.analysis, self.target_pid()).map_err(StartError::Analysis)?;
        let handle = match Runner::start(config).await {
            Ok(h) => h,
            Err(RunError::Unreachable(e)) => return Err(StartError::Unreachable(e)),
            Err(e) => return Err(StartError::Engine(e)),
        };
        let control = handle.control();
        let traffic_started = Instant::now()
            .checked_sub(control.elapsed())
            .unwrap_or_else(Instant::now);
        match plan.start(traffic_started) {
            Ok(monitor) => Ok(Running {
                handle,
                control,
                monitor,
            }),
            Err(e) => {
                control.force_stop();
                let _ = handle.wait().await;
                Err(StartError::Monitor(e))
            }
        }
    }

    /// Stop the managed target (its whole process group), reporting how it ended.
    pub async fn close(self) {
        if let Some(t) = self.target {
            target::stop(t, self.log.as_ref()).await;
        }
    }
}

/// A run in progress.
#[derive(Debug)]
pub struct Running {
    handle: RunHandle,
    control: RunControl,
    monitor: analysis::Running,
}

/// A run that ended with a report.
#[derive(Debug)]
pub struct Finished {
    /// The report, with the analysis attached.
    pub report: RunReport,
    /// Why the run failed part-way; `report` is then what was measured until then.
    pub failure: Option<String>,
}

impl Running {
    /// Steer the run: stop, set users or rate, take a snapshot.
    pub fn control(&self) -> &RunControl {
        &self.control
    }

    /// The analysis so far (resources, scraped metrics, findings), for a live view.
    pub fn live_analysis(&self) -> analysis::LiveAnalysis {
        self.monitor.live()
    }

    /// Wait for the run to end, stop the monitor and attach the analysis. `Err`: the engine
    /// lost the run and there is no report.
    pub async fn finish(self) -> Result<Finished, RunError> {
        let result = self.handle.wait().await;
        let collection = self.monitor.stop().await;
        let (mut report, failure) = match result {
            Ok(report) => (report, None),
            Err(RunError::Failed { message, partial }) => (*partial, Some(message)),
            Err(e) => return Err(e),
        };
        collection.attach(&mut report);
        Ok(Finished { report, failure })
    }
}
