//! `--target-cmd` and its flags: the managed local target, which `cicada_session` starts after
//! the scenario and flags are validated and stops after the run.

use std::path::PathBuf;
use std::time::Duration;

use cicada_target::{ReadyUrl, TargetSpec};
use clap::Args;

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

impl TargetArgs {
    /// The target to start, if one was asked for.
    pub fn spec(&self) -> Option<TargetSpec> {
        let command = self.target_cmd.as_ref()?;
        let mut spec = TargetSpec::new(command).ready_timeout(self.target_ready_timeout);
        if let Some(url) = &self.target_ready {
            spec = spec.ready_url(url.clone());
        }
        if let Some(log) = &self.target_log {
            spec = spec.log_file(log);
        }
        Some(spec)
    }
}
