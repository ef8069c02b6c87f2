//! The managed local target (`--target-cmd`): started after the scenario and flags are validated
//! (bad input starts nothing), ready before traffic, stopped after the run — also on failure and
//! on Ctrl-C — before the reports are written.

use cicada_target::{ManagedTarget, TargetError, TargetSpec};

use crate::log::Log;

/// Why the target did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// It failed to start or to become ready (nothing was sent).
    #[error(transparent)]
    Failed(#[from] TargetError),
    /// Ctrl-C or SIGTERM while it was starting; it was stopped.
    #[error("interrupted while the target was starting; it was stopped")]
    Interrupted,
}

/// Start the target; give up if `interrupted` resolves first (Ctrl-C or SIGTERM).
pub async fn start(
    spec: &TargetSpec,
    interrupted: impl Future<Output = ()>,
    log: &dyn Log,
) -> Result<ManagedTarget, StartError> {
    log.line(&format!("cicada: starting target: {}", spec.command()));
    tokio::select! {
        started = ManagedTarget::start(spec) => {
            let target = started?;
            log.line(&format!("cicada: target ready (pid {})", target.pid()));
            Ok(target)
        }
        // Dropping the start future kills the half-started target's process group.
        _ = interrupted => {
            log.line("\ncicada: interrupted while the target was starting; it was stopped");
            Err(StartError::Interrupted)
        }
    }
}

/// Stop the target, reporting how it ended.
pub async fn stop(target: ManagedTarget, log: &dyn Log) {
    let pid = target.pid();
    match target.stop().await {
        Ok(outcome) if outcome.killed => log.line(&format!(
            "cicada: target (pid {pid}) ignored SIGTERM for {:.1}s and was killed",
            outcome.took.as_secs_f64()
        )),
        Ok(outcome) => log.line(&format!(
            "cicada: target stopped in {:.1}s ({})",
            outcome.took.as_secs_f64(),
            outcome.status
        )),
        Err(e) => log.line(&format!("error: stopping the target: {e}")),
    }
}
