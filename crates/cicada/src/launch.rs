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
    /// `--execution-segment FROM:TO` and `--execution-segment-sequence 0,…,1`: this
    /// generator's part of a run split across several ([`crate::segment`]).
    pub segment: SegmentFlags,
    /// Start traffic at this wall-clock instant ([`RunConfig::start_at`]).
    pub start_at: Option<std::time::SystemTime>,
}

/// The execution-segment flags as given, validated by [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentFlags {
    /// `--execution-segment`, e.g. `"1/3:2/3"`.
    pub segment: Option<String>,
    /// `--execution-segment-sequence`, e.g. `"0,1/3,2/3,1"` (default: `0,FROM,TO,1`).
    pub sequence: Option<String>,
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
    #[error(transparent)]
    Segment(#[from] crate::segment::StripeError),
}

/// Load, validate and compile the scenario, resolve the plan and the host: [`check`], which
/// validates everything, then the plan and the host are required.
pub fn prepare(options: &LaunchOptions) -> Result<RunConfig, SetupError> {
    let checked = check(options)?;
    let plan = checked.plan.ok_or_else(PlanError::no_load)?;
    let target = checked.target.ok_or(TargetError::Missing)?;
    let mut config = RunConfig::new(checked.program, plan, &target.url)?;
    config.seed = options.seed.unwrap_or(0);
    config.stop_timeout = options.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT);
    config.check_reachable = !options.allow_unreachable;
    config.insecure = options.insecure;
    config.exit_code_on_error = checked.exit_code_on_error;
    config.local_addrs = checked.local_addrs;
    config.segment = checked.segment;
    config.start_at = options.start_at;
    Ok(config)
}

/// The `--exit-code-on-error` in effect: the flag's, else the scenario's, else Locust's 1.
pub fn exit_code_on_error(options: &LaunchOptions, program: &Program) -> u8 {
    options
        .exit_code_on_error
        .or(program.defaults.exit_code_on_error)
        .unwrap_or(cicada_report::model::DEFAULT_EXIT_CODE_ON_ERROR)
}

/// A validated scenario: what `cicada check` shows, and what [`prepare`] builds a run from.
#[derive(Debug)]
pub struct CheckedScenario {
    pub program: Program,
    /// `None` when neither the flags nor the file ask for any load.
    pub plan: Option<LoadPlan>,
    /// `None` when no host is given anywhere.
    pub target: Option<crate::target::Target>,
    /// The `--exit-code-on-error` in effect ([`exit_code_on_error`]).
    pub exit_code_on_error: u8,
    /// `--local-ips`, parsed.
    pub local_addrs: Vec<std::net::IpAddr>,
    /// This generator's part of the run (the whole run unless `--execution-segment`).
    pub segment: crate::segment::Stripe,
}

/// Validate everything a run needs, in the one place `check` and `run` share: a plan that
/// `run` would refuse is refused here. Only a missing load plan (no users, rate or stages
/// anywhere) and a missing host are accepted, as `None`: `run` requires them ([`prepare`]).
pub fn check(options: &LaunchOptions) -> Result<CheckedScenario, SetupError> {
    let scenario = match &options.scenario {
        Some(s) => s.clone(),
        None => load_scenario_file(&options.scenario_path)?,
    };
    let program = Program::compile(&scenario, &options.compile)?;
    let plan = match LoadPlan::resolve(&options.load, &program.load) {
        Ok(plan) => Some(plan),
        Err(e) if e.is_no_load() => None,
        Err(e) => return Err(e.into()),
    };
    let target = match RunConfig::choose_host(options.host.as_deref(), &program) {
        Ok(t) => Some(t),
        Err(TargetError::Missing) => None,
        Err(e) => return Err(e.into()),
    };
    let local_addrs = match &options.local_ips {
        Some(ips) => crate::http::parse_local_addrs(ips)?,
        None => Vec::new(),
    };
    let segment = crate::segment::Stripe::from_flags(
        options.segment.segment.as_deref(),
        options.segment.sequence.as_deref(),
    )?;
    Ok(CheckedScenario {
        segment,
        exit_code_on_error: exit_code_on_error(options, &program),
        program,
        plan,
        target,
        local_addrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_scenario;

    const SCENARIO: &str = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

    fn options(load: LoadSpec, host: Option<&str>, local_ips: Option<&str>) -> LaunchOptions {
        LaunchOptions {
            scenario: Some(parse_scenario(SCENARIO, std::path::Path::new("s.toml")).unwrap()),
            host: host.map(str::to_owned),
            load,
            local_ips: local_ips.map(str::to_owned),
            ..LaunchOptions::default()
        }
    }

    /// `check` and `run` share one validation: whatever `prepare` refuses, `check` refuses
    /// too, except a missing plan or host (which `check` reports as not given).
    #[test]
    fn check_refuses_what_run_refuses() {
        let users = |n| LoadSpec {
            users: Some(n),
            ..LoadSpec::default()
        };
        let refused = [
            // A bound without any load: `check` once called this valid ("plan: none").
            options(
                LoadSpec {
                    run_time: Some(Duration::ZERO),
                    ..LoadSpec::default()
                },
                Some("http://127.0.0.1:9"),
                None,
            ),
            options(
                LoadSpec {
                    iterations: Some(0),
                    ..LoadSpec::default()
                },
                None,
                None,
            ),
            options(users(0), Some("http://127.0.0.1:9"), None),
            options(users(1), Some("ftp://nope"), None),
            // --local-ips was never looked at by `check`.
            options(users(1), Some("http://127.0.0.1:9"), Some("not-an-ip")),
            LaunchOptions {
                segment: SegmentFlags {
                    segment: Some("2/3:1/3".into()),
                    sequence: None,
                },
                ..options(users(3), Some("http://127.0.0.1:9"), None)
            },
            LaunchOptions {
                segment: SegmentFlags {
                    segment: Some("0:1/2".into()),
                    sequence: Some("0,1/3,2/3,1".into()),
                },
                ..options(users(3), Some("http://127.0.0.1:9"), None)
            },
        ];
        for o in &refused {
            let run = prepare(o).expect_err("run refuses it");
            let check = check(o).expect_err("so does check");
            assert_eq!(run.to_string(), check.to_string());
        }
        let fine = options(users(3), Some("http://127.0.0.1:9"), Some("127.0.0.1"));
        assert!(prepare(&fine).is_ok());
        let checked = check(&fine).unwrap();
        assert!(checked.plan.is_some() && checked.target.is_some());
        assert!(checked.segment.is_full());
        assert_eq!(checked.local_addrs.len(), 1);
    }

    #[test]
    fn check_accepts_a_missing_plan_or_host_that_run_requires() {
        let o = options(LoadSpec::default(), None, None);
        let checked = check(&o).unwrap();
        assert!(checked.plan.is_none() && checked.target.is_none());
        let e = prepare(&o).unwrap_err();
        assert!(matches!(&e, SetupError::Plan(p) if p.is_no_load()), "{e}");
        let with_load = options(
            LoadSpec {
                users: Some(1),
                ..LoadSpec::default()
            },
            None,
            None,
        );
        assert!(matches!(
            prepare(&with_load),
            Err(SetupError::Target(TargetError::Missing))
        ));
    }
}
