//! The `cicada run` flow as a library: turn user input (a scenario path and command-line
//! choices) into a validated [`RunConfig`] without sending anything, so the CLI, tests and
//! later front ends (managed local targets, resource tracking) share one path.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cicada::launch::{LaunchOptions, prepare};
//! use cicada::runner::Runner;
//!
//! let mut options = LaunchOptions::new("load.toml");
//! options.load.users = Some(10);
//! let config = prepare(&options)?;          // loads, validates, plans: no traffic yet
//! let handle = Runner::start(config).await?; // checks the target answers, then starts
//! let report = handle.wait().await?;
//! # let _ = report; Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::plan::{LoadPlan, PlanError};
use crate::runner::{DEFAULT_STOP_TIMEOUT, RunConfig};
use crate::scenario::{
    CompileOptions, LoadSpec, Program, Scenario, ScenarioError, load_scenario_file,
};
use crate::target::TargetError;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// The scenario file (ignored when [`LaunchOptions::scenario`] is set).
    pub scenario_path: PathBuf,
    /// A scenario built in code, used instead of the file.
    pub scenario: Option<Scenario>,
    /// `-H/--host`, overriding the scenario's host.
    pub host: Option<String>,
    /// Load flags; each one given overrides the scenario's `[load]`.
    pub load: LoadSpec,
    pub compile: CompileOptions,
    /// `--seed`; default 0 (runs are reproducible unless a seed is chosen).
    pub seed: Option<u64>,
    pub stop_timeout: Option<Duration>,
    /// Start even if the target does not answer a TCP connect.
    pub allow_unreachable: bool,
    /// HTTPS: accept any server certificate.
    pub insecure: bool,
    /// `--exit-code-on-error`, overriding the scenario's `[defaults] exit_code_on_error`.
    pub exit_code_on_error: Option<u8>,
    /// `--local-ips`: local addresses to open connections from, in turn (see
    /// [`crate::http::parse_local_addrs`]).
    pub local_ips: Option<String>,
}

impl LaunchOptions {
    pub fn new(scenario_path: impl Into<PathBuf>) -> Self {
        Self {
            scenario_path: scenario_path.into(),
            ..Self::default()
        }
    }
}

/// Bad input found before any traffic.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    LocalAddrs(#[from] crate::http::LocalAddrsError),
}

/// Load, validate and compile the scenario, resolve the plan and the host.
pub fn prepare(options: &LaunchOptions) -> Result<RunConfig, SetupError> {
    let scenario = match &options.scenario {
        Some(s) => s.clone(),
        None => load_scenario_file(&options.scenario_path)?,
    };
    let program = Program::compile(&scenario, &options.compile)?;
    let plan = LoadPlan::resolve(&options.load, &program.load)?;
    let target = RunConfig::choose_host(options.host.as_deref(), &program)?;
    let mut config = RunConfig::new(program, plan, &target.url)?;
    config.seed = options.seed.unwrap_or(0);
    config.stop_timeout = options.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT);
    config.check_reachable = !options.allow_unreachable;
    config.insecure = options.insecure;
    config.exit_code_on_error = exit_code_on_error(options, &config.program);
    if let Some(ips) = &options.local_ips {
        config.local_addrs = crate::http::parse_local_addrs(ips)?;
    }
    Ok(config)
}

/// The `--exit-code-on-error` in effect: the flag's, else the scenario's, else Locust's 1.
pub fn exit_code_on_error(options: &LaunchOptions, program: &Program) -> u8 {
    options
        .exit_code_on_error
        .or(program.defaults.exit_code_on_error)
        .unwrap_or(cicada_report::model::DEFAULT_EXIT_CODE_ON_ERROR)
}

/// A validated scenario for `cicada check`: the plan and target are optional there.
#[derive(Debug)]
pub struct CheckedScenario {
    pub program: Program,
    /// `None` when neither the flags nor the file ask for any load.
    pub plan: Option<LoadPlan>,
    /// `None` when no host is given anywhere.
    pub target: Option<crate::target::Target>,
}

/// Validate everything `prepare` validates, but accept a missing load plan or host.
pub fn check(options: &LaunchOptions) -> Result<CheckedScenario, SetupError> {
    let scenario = match &options.scenario {
        Some(s) => s.clone(),
        None => load_scenario_file(&options.scenario_path)?,
    };
    let program = Program::compile(&scenario, &options.compile)?;
    let asks_for_load = |l: &LoadSpec| {
        l.users.is_some() || l.rate.is_some() || !l.stages.is_empty() || !l.rate_stages.is_empty()
    };
    let plan = if asks_for_load(&options.load) || asks_for_load(&program.load) {
        Some(LoadPlan::resolve(&options.load, &program.load)?)
    } else {
        None
    };
    let target = match RunConfig::choose_host(options.host.as_deref(), &program) {
        Ok(t) => Some(t),
        Err(TargetError::Missing) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(CheckedScenario {
        program,
        plan,
        target,
    })
}
