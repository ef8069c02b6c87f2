//! `--target-cmd`: the managed local target. Started after the scenario and flags are validated
//! (bad input starts nothing), ready before traffic, stopped after the run — also on failure and
//! on Ctrl-C — before the reports are written.

use std::path::PathBuf;
use std::time::Duration;

use cicada_target::{ManagedTarget, ReadyUrl, TargetSpec};
use clap::Args;

use crate::exit;

/// Flags of the managed target.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Start the system under test with this shell command before the run, and stop it (its whole
    /// process group) after, e.g. 'dryad serve --bind 127.0.0.1:8000'.
    #[arg(long, value_name = "COMMAND")]
    pub target_cmd: Option<String>,
    /// With --target-cmd: wait until a GET of this loopback URL answers 2xx before traffic starts,
    /// e.g. http://127.0.0.1:8000/ready.
    #[arg(long, value_name = "URL", requires = "target_cmd", value_parser = parse_ready)]
    pub target_ready: Option<ReadyUrl>,
    /// With --target-cmd: how long to wait for --target-ready.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub target_ready_timeout: Duration,
    /// With --target-cmd: append the target's stdout and stderr to FILE.
    #[arg(long, value_name = "FILE", requires = "target_cmd")]
    pub target_log: Option<PathBuf>,
}

fn parse_ready(s: &str) -> Result<ReadyUrl, String> {
    s.parse()
        .map_err(|e: cicada_target::ReadyUrlError| e.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cicada::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Start the target if one was asked for; give up if `interrupted` resolves first (Ctrl-C or
/// SIGTERM). `Err` carries the exit code, after the reason was printed.
pub async fn start(
    args: &TargetArgs,
    interrupted: impl Future<Output = ()>,
) -> Result<Option<ManagedTarget>, i32> {
    let Some(command) = &args.target_cmd else {
        return Ok(None);
    };
    let mut spec = TargetSpec::new(command).ready_timeout(args.target_ready_timeout);
    if let Some(url) = &args.target_ready {
        spec = spec.ready_url(url.clone());
    }
    if let Some(log) = &args.target_log {
        spec = spec.log_file(log);
    }
    eprintln!("cicada: starting target: {command}");
    tokio::select! {
        started = ManagedTarget::start(&spec) => match started {
            Ok(target) => {
                eprintln!("cicada: target ready (pid {})", target.pid());
                Ok(Some(target))
            }
            Err(e) => {
                eprintln!("error: {e}");
                Err(exit::UNREACHABLE)
            }
        },
        // Dropping the start future kills the half-started target's process group.
        _ = interrupted => {
            eprintln!("\ncicada: interrupted while the target was starting; it was stopped");
            Err(exit::INTERRUPTED)
        }
    }
}

/// Stop the target, reporting how it ended.
pub async fn stop(target: Option<ManagedTarget>) {
    let Some(target) = target else { return };
    let pid = target.pid();
    match target.stop().await {
        Ok(outcome) if outcome.killed => eprintln!(
            "cicada: target (pid {pid}) ignored SIGTERM for {:.1}s and was killed",
            outcome.took.as_secs_f64()
        ),
        Ok(outcome) => eprintln!(
            "cicada: target stopped in {:.1}s ({})",
            outcome.took.as_secs_f64(),
            outcome.status
        ),
        Err(e) => eprintln!("error: stopping the target: {e}"),
    }
}
