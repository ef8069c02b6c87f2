//! What the web server steers: a [`Driver`] starts runs and each started run is steered
//! through a [`Steer`]. [`LocalDriver`] runs the engine in this process on a
//! [`cicada_session::Session`]; a distributed coordinator implements the same two traits by
//! fanning each call out to its attached workers and merging their snapshots, and the API, the
//! page and the run states stay as they are.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cicada::runner::{RunConfig, RunControl};
use cicada_report::RunReport;
use cicada_session::{Finished, Session, StartError};

use crate::so_far::SoFar;

/// A boxed, sendable future (the traits are object-safe so a server holds `dyn Driver`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a run ended: its final report, or why there is none.
pub type RunEnd = Result<Finished, String>;

/// A started run: its steering handle and the future of its end.
pub struct Started {
    pub steer: Arc<dyn Steer>,
    pub end: BoxFuture<'static, RunEnd>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").finish_non_exhaustive()
    }
}

/// Starts runs from a validated config.
pub trait Driver: Send + Sync + 'static {
    /// Start a run (the target is checked first); nothing was sent when it fails.
    fn start(&self, config: RunConfig) -> BoxFuture<'_, Result<Started, StartError>>;
}

/// Steering a run in progress; every call returns at once.
pub trait Steer: Send + Sync {
    /// Graceful stop (users finish their current request).
    fn stop(&self);
    /// Closed model: hold this many users now. False for an open-model run.
    fn set_users(&self, users: u64) -> bool;
    /// Open model: start iterations at this rate per second now. False for a closed-model run.
    fn set_rate(&self, per_second: f64) -> bool;
    /// Forget the statistics so far; the run goes on.
    fn reset_stats(&self);
    /// The statistics so far, as a partial report.
    fn snapshot(&self) -> RunReport;
    /// Users alive (closed) or iterations in flight (open).
    fn users(&self) -> u64;
    /// Time since traffic started.
    fn elapsed(&self) -> Duration;
    /// The run was asked to end or ended by itself.
    fn is_stopping(&self) -> bool;
}

impl Steer for RunControl {
    fn stop(&self) {
        RunControl::stop(self);
    }
    fn set_users(&self, users: u64) -> bool {
        RunControl::set_users(self, users)
    }
    fn set_rate(&self, per_second: f64) -> bool {
        RunControl::set_rate(self, per_second)
    }
    fn reset_stats(&self) {
        RunControl::reset_stats(self);
    }
    fn snapshot(&self) -> RunReport {
        RunControl::snapshot(self)
    }
    fn users(&self) -> u64 {
        RunControl::users(self)
    }
    fn elapsed(&self) -> Duration {
        RunControl::elapsed(self)
    }
    fn is_stopping(&self) -> bool {
        RunControl::is_stopping(self)
    }
}

/// The engine in this process, on one session (its managed target and monitor).
#[derive(Debug, Clone)]
pub struct LocalDriver {
    session: Arc<Session>,
}

impl LocalDriver {
    pub fn new(session: Arc<Session>) -> Self {
        Self { session }
    }
}

/// A run of this process: the engine's handle, and the analysis so far (the session
/// monitor's resources and scraped metrics, and the findings on them) in its snapshots.
#[derive(Debug)]
struct LocalSteer {
    control: RunControl,
    so_far: SoFar,
}

impl Steer for LocalSteer {
    fn stop(&self) {
        self.control.stop();
    }
    fn set_users(&self, users: u64) -> bool {
        self.control.set_users(users)
    }
    fn set_rate(&self, per_second: f64) -> bool {
        self.control.set_rate(per_second)
    }
    fn reset_stats(&self) {
        self.control.reset_stats();
    }
    fn snapshot(&self) -> RunReport {
        let mut report = self.control.snapshot();
        self.so_far.attach(&mut report);
        report
    }
    fn users(&self) -> u64 {
        self.control.users()
    }
    fn elapsed(&self) -> Duration {
        self.control.elapsed()
    }
    fn is_stopping(&self) -> bool {
        self.control.is_stopping()
    }
}

impl Driver for LocalDriver {
    fn start(&self, config: RunConfig) -> BoxFuture<'_, Result<Started, StartError>> {
        Box::pin(async move {
            let running = self.session.start(config).await?;
            let control = running.control().clone();
            let so_far = SoFar::start(control.clone(), running.live_analysis());
            let steer: Arc<dyn Steer> = Arc::new(LocalSteer { control, so_far });
            let end: BoxFuture<'static, RunEnd> =
                Box::pin(async move { running.finish().await.map_err(|e| e.to_string()) });
            Ok(Started { steer, end })
        })
    }
}
