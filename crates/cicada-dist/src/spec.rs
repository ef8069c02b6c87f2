//! The run options the coordinator sends each worker: everything of a validated [`RunConfig`]
//! that its flags or the web form set (the whole run's plan, host, seed, tags, thresholds…),
//! and how a worker turns them back into a [`RunConfig`] with its own scenario file, its own
//! machine's threads and `--local-ips`, its stripe and the common start.

use std::path::Path;
use std::time::{Duration, SystemTime};

use cicada::plan::{LoadPlan, PlanModel, Stage};
use cicada::runner::RunConfig;
use cicada::scenario::{CompileOptions, Program, load_scenario_file};
use cicada::segment::Stripe;
use cicada::threshold::ThresholdSource;
use serde::{Deserialize, Serialize};

/// The whole run's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub plan: WirePlan,
    /// The target's base URL.
    pub host: String,
    pub seed: u64,
    pub stop_timeout: Duration,
    pub check_reachable: bool,
    pub insecure: bool,
    pub exit_code_on_error: u8,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    /// Thresholds given on the command line or the form (the scenario's own come with the
    /// file, which the worker holds too).
    pub thresholds: Vec<String>,
}

/// [`LoadPlan`] on the wire, field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WirePlan {
    /// `None`: closed model; `Some(n)`: open model with at most `n` iterations in flight.
    pub open_max_concurrency: Option<u64>,
    pub initial: f64,
    /// (duration, target) of each stage.
    pub stages: Vec<(Duration, f64)>,
    pub run_time: Option<Duration>,
    pub iterations: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub default_bound: bool,
}

impl WirePlan {
    pub fn of(plan: &LoadPlan) -> Self {
        Self {
            open_max_concurrency: match plan.model {
                PlanModel::Closed => None,
                PlanModel::Open { max_concurrency } => Some(max_concurrency),
            },
            initial: plan.initial,
            stages: plan.stages.iter().map(|s| (s.duration, s.target)).collect(),
            run_time: plan.run_time,
            iterations: plan.iterations,
            spawn_rate: plan.spawn_rate,
            default_bound: plan.default_bound,
        }
    }

    pub fn plan(&self) -> LoadPlan {
        LoadPlan {
            model: match self.open_max_concurrency {
                None => PlanModel::Closed,
                Some(max_concurrency) => PlanModel::Open { max_concurrency },
            },
            initial: self.initial,
            stages: self
                .stages
                .iter()
                .map(|&(duration, target)| Stage { duration, target })
                .collect(),
            run_time: self.run_time,
            iterations: self.iterations,
            spawn_rate: self.spawn_rate,
            default_bound: self.default_bound,
        }
    }
}

impl RunSpec {
    /// The options of a validated config.
    pub fn of(config: &RunConfig) -> Self {
        let program = &config.program;
        Self {
            plan: WirePlan::of(&config.plan),
            host: config.target.url.clone(),
            seed: config.seed,
            stop_timeout: config.stop_timeout,
            check_reachable: config.check_reachable,
            insecure: config.insecure,
            exit_code_on_error: config.exit_code_on_error,
            tags: program.tags.clone(),
            exclude_tags: program.exclude_tags.clone(),
            thresholds: program
                .thresholds
                .iter()
                .filter(|t| t.source == ThresholdSource::Cli)
                .map(|t| t.expression.clone())
                .collect(),
        }
    }
}

/// What a worker brings of its own to a run.
#[derive(Debug, Clone, Default)]
pub struct Local {
    /// Runtime threads of this worker.
    pub worker_threads: usize,
    /// `--local-ips` of this worker, parsed.
    pub local_addrs: Vec<std::net::IpAddr>,
}

/// Why a worker could not build its part of the run.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Scenario(#[from] cicada::scenario::ScenarioError),
    #[error(transparent)]
    Target(#[from] cicada::target::TargetError),
    #[error("the segment sequence {sequence:?} from the coordinator has no part {index}")]
    Stripe { sequence: String, index: u64 },
    #[error(transparent)]
    Sequence(#[from] cicada::segment::SequenceError),
}

/// Build this worker's config: its scenario file compiled with the run's tags and thresholds,
/// the whole run's plan, its stripe `index` of `sequence` and the common start.
pub fn worker_config(
    spec: &RunSpec,
    scenario_path: &Path,
    local: &Local,
    sequence: &str,
    index: u64,
    start_at: SystemTime,
) -> Result<RunConfig, SpecError> {
    let scenario = load_scenario_file(scenario_path)?;
    let compile = CompileOptions {
        tags: spec.tags.clone(),
        exclude_tags: spec.exclude_tags.clone(),
        thresholds: spec.thresholds.clone(),
    };
    let program = Program::compile(&scenario, &compile)?;
    let stripe = usize::try_from(index)
        .ok()
        .and_then(|i| Stripe::new(sequence.parse().ok()?, i))
        .ok_or_else(|| SpecError::Stripe {
            sequence: sequence.to_string(),
            index,
        })?;
    let _: cicada::segment::SegmentSequence = sequence.parse()?;
    let plan = crate::share::plan_for(&spec.plan.plan(), &stripe);
    let mut config = RunConfig::new(program, plan, &spec.host)?;
    config.seed = spec.seed;
    config.stop_timeout = spec.stop_timeout;
    config.check_reachable = spec.check_reachable;
    config.insecure = spec.insecure;
    config.exit_code_on_error = spec.exit_code_on_error;
    config.local_addrs = local.local_addrs.clone();
    if local.worker_threads > 0 {
        config.worker_threads = local.worker_threads;
        config.shards = local.worker_threads * 4;
    }
    config.segment = stripe;
    config.start_at = Some(start_at);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_survives_the_wire() {
        let plan = LoadPlan {
            model: PlanModel::Open {
                max_concurrency: 40,
            },
            initial: 5.0,
            stages: vec![Stage {
                duration: Duration::from_millis(1500),
                target: 12.5,
            }],
            run_time: Some(Duration::from_secs(9)),
            iterations: Some(100),
            spawn_rate: None,
            default_bound: false,
        };
        let wire = WirePlan::of(&plan);
        let text = serde_json::to_string(&wire).unwrap();
        let back: WirePlan = serde_json::from_str(&text).unwrap();
        assert_eq!(back.plan(), plan);
    }
}
