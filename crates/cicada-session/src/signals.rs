//! Ctrl-C and SIGTERM: the first stops the run gracefully (users finish their current request,
//! every report is still written), the second stops it at once.

use cicada::runner::RunControl;

use crate::log::Log;

/// Stop `control`'s run on the first signal and force it on the second.
pub async fn stop_on_signal(control: RunControl, log: &dyn Log) {
    wait_for_signal().await;
    log.line(
        "\ncicada: stopping (users finish their current request; reports will be written; signal again to stop at once)...",
    );
    control.stop();
    wait_for_signal().await;
    log.line("cicada: stopping at once; reports will be written...");
    control.force_stop();
}

/// Resolves on Ctrl-C or SIGTERM.
#[cfg(unix)]
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
