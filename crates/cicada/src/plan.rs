//! Load plans. Every way of asking for load — `-u/-r/-t` (Locust's semantics), closed-model
//! stages, a constant or ramping arrival rate — is normalised into one [`LoadPlan`]: a start
//! level and a list of stages, each moving linearly to its target over its duration.

use std::time::Duration;

use cicada_report::model::{LoadModel, PlanInfo, StageInfo};

use crate::duration::format_duration;
use crate::scenario::model::{LoadSpec, StageSpec};

/// Run time used when neither a run time, stages nor an iteration bound is given.
pub const DEFAULT_RUN_TIME: Duration = Duration::from_secs(60);
/// Locust's default spawn rate (users per second) when `-u` is given without `-r`.
pub const DEFAULT_SPAWN_RATE: f64 = 1.0;
/// Open-model cap on iterations in flight when none is given.
pub const DEFAULT_MAX_CONCURRENCY: u64 = 1000;

/// Why a plan was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid load plan: {0}")]
pub struct PlanError(pub String);

impl PlanError {
    /// Neither users, a rate nor stages were given anywhere.
    pub fn no_load() -> Self {
        PlanError(
            "no load given: use -u/--users (closed model), --rate (open model) or stages"
                .to_string(),
        )
    }

    /// Whether this is [`PlanError::no_load`] (the only plan error `cicada check` accepts).
    pub fn is_no_load(&self) -> bool {
        *self == Self::no_load()
    }
}

/// Closed (a number of looping users) or open (iterations started at a rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanModel {
    Closed,
    Open { max_concurrency: u64 },
}

/// One normalised stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    /// Users (closed) or iterations per second (open) at the end of the stage.
    pub target: f64,
}

/// The normalised plan.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub model: PlanModel,
    /// Level at time zero (0 users; for a constant arrival rate, the rate itself).
    pub initial: f64,
    pub stages: Vec<Stage>,
    /// When the run ends; `None` only when bounded by iterations alone.
    pub run_time: Option<Duration>,
    /// Stop after this many task iterations in total.
    pub iterations: Option<u64>,
    /// Closed model: the spawn rate the stages were derived from.
    pub spawn_rate: Option<f64>,
    /// True when no bound was given and [`DEFAULT_RUN_TIME`] applies.
    pub default_bound: bool,
}

impl LoadPlan {
    /// Build a plan from the command line's values laid over the scenario file's.
    /// Whichever model the command line asks for wins over the file's.
    pub fn resolve(cli: &LoadSpec, file: &LoadSpec) -> Result<Self, PlanError> {
        let cli_closed = cli.users.is_some() || !cli.stages.is_empty();
        let cli_open = cli.rate.is_some() || !cli.rate_stages.is_empty();
        let mut spec = file.clone();
        if cli_closed {
            spec.rate = None;
            spec.rate_stages.clear();
            spec.stages.clear();
        }
        if cli_open {
            spec.users = None;
            spec.stages.clear();
            spec.rate_stages.clear();
        }
        let merged = LoadSpec {
            users: cli.users.or(spec.users),
            spawn_rate: cli.spawn_rate.or(spec.spawn_rate),
            run_time: cli.run_time.or(spec.run_time),
            iterations: cli.iterations.or(spec.iterations),
            stages: if cli.stages.is_empty() {
                spec.stages
            } else {
                cli.stages.clone()
            },
            rate: cli.rate.or(spec.rate),
            rate_stages: if cli.rate_stages.is_empty() {
                spec.rate_stages
            } else {
                cli.rate_stages.clone()
            },
            max_concurrency: cli.max_concurrency.or(spec.max_concurrency),
        };
        Self::from_spec(&merged)
    }

    /// Build a plan from one spec.
    pub fn from_spec(spec: &LoadSpec) -> Result<Self, PlanError> {
        let err = |m: &str| Err(PlanError(m.to_string()));
        let closed = spec.users.is_some() || !spec.stages.is_empty();
        let open = spec.rate.is_some() || !spec.rate_stages.is_empty();
        if closed && open {
            return err(
                "give either users/stages (closed model) or rate/rate_stages (open model), not both",
            );
        }
        if spec.users.is_some() && !spec.stages.is_empty() {
            return err("give either users (with spawn rate) or stages, not both");
        }
        if spec.rate.is_some() && !spec.rate_stages.is_empty() {
            return err("give either rate or rate_stages, not both");
        }
        if spec.iterations == Some(0) {
            return err("iterations must be at least 1");
        }
        if let Some(r) = spec.spawn_rate
            && !(r > 0.0 && r.is_finite())
        {
            return err("spawn rate must be a positive number of users per second");
        }
        if spec.run_time == Some(Duration::ZERO) {
            return err("run time must be greater than zero");
        }
        let (default_bound, run_time) = match (spec.run_time, spec.iterations) {
            (Some(t), _) => (false, Some(t)),
            (None, Some(_)) => (false, None),
            (None, None) if !spec.stages.is_empty() || !spec.rate_stages.is_empty() => {
                (false, None)
            }
            (None, None) => (true, Some(DEFAULT_RUN_TIME)),
        };
        if open {
            let max_concurrency = spec.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
            if max_concurrency == 0 {
                return err("max concurrency must be at least 1");
            }
            let model = PlanModel::Open { max_concurrency };
            if let Some(rate) = spec.rate {
                if !(rate > 0.0 && rate.is_finite()) {
                    return err("rate must be a positive number of iterations per second");
                }
                let horizon = run_time.unwrap_or(Duration::MAX);
                return Ok(Self {
                    model,
                    initial: rate,
                    stages: vec![Stage {
                        duration: horizon,
                        target: rate,
                    }],
                    run_time,
                    iterations: spec.iterations,
                    spawn_rate: None,
                    default_bound,
                });
            }
            let stages = convert_stages(&spec.rate_stages)?;
            return Ok(Self::staged(
                model,
                stages,
                run_time,
                spec.iterations,
                default_bound,
            ));
        }
        if let Some(users) = spec.users {
            if users == 0 {
                return err("users must be at least 1");
            }
            let rate = spec.spawn_rate.unwrap_or(DEFAULT_SPAWN_RATE);
            let ramp = Duration::from_secs_f64(users as f64 / rate);
            let stages = match run_time {
                Some(t) if t <= ramp => vec![Stage {
                    duration: t,
                    target: rate * t.as_secs_f64(),
                }],
                Some(t) => vec![
                    Stage {
                        duration: ramp,
                        target: users as f64,
                    },
                    Stage {
                        duration: t - ramp,
                        target: users as f64,
                    },
                ],
                None => vec![
                    Stage {
                        duration: ramp,
                        target: users as f64,
                    },
                    Stage {
                        duration: Duration::MAX,
                        target: users as f64,
                    },
                ],
            };
            return Ok(Self {
                model: PlanModel::Closed,
                initial: 0.0,
                stages,
                run_time,
                iterations: spec.iterations,
                spawn_rate: Some(rate),
                default_bound,
            });
        }
        if spec.stages.is_empty() {
            return Err(PlanError::no_load());
        }
        let stages = convert_stages(&spec.stages)?;
        Ok(Self::staged(
            PlanModel::Closed,
            stages,
            run_time,
            spec.iterations,
            default_bound,
        ))
    }

    fn staged(
        model: PlanModel,
        stages: Vec<Stage>,
        run_time: Option<Duration>,
        iterations: Option<u64>,
        default_bound: bool,
    ) -> Self {
        let total: Duration = stages.iter().map(|s| s.duration).sum();
        Self {
            model,
            initial: 0.0,
            stages,
            run_time: Some(run_time.map_or(total, |t| t.min(total))),
            iterations,
            spawn_rate: None,
            default_bound,
        }
    }

    /// Planned users (closed) or iterations/s (open) at `elapsed` since the start.
    pub fn target_at(&self, elapsed: Duration) -> f64 {
        let mut from = self.initial;
        let mut start = Duration::ZERO;
        for stage in &self.stages {
            let end = start.saturating_add(stage.duration);
            if elapsed < end {
                let into = (elapsed - start).as_secs_f64();
                let frac = into / stage.duration.as_secs_f64();
                return from + (stage.target - from) * frac;
            }
            from = stage.target;
            start = end;
        }
        from
    }

    /// Highest level the plan reaches.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.initial, f64::max)
    }

    pub fn is_open(&self) -> bool {
        matches!(self.model, PlanModel::Open { .. })
    }

    /// One line for humans, e.g. `50 users, spawn rate 10/s, 1m`.
    pub fn describe(&self) -> String {
        let bound = match (self.run_time, self.iterations) {
            (Some(t), Some(n)) => format!("{}, at most {n} iterations", format_duration(t)),
            (Some(t), None) => format_duration(t),
            (None, Some(n)) => format!("{n} iterations"),
            (None, None) => "unbounded".to_string(),
        };
        let default = if self.default_bound {
            " (default bound)"
        } else {
            ""
        };
        match self.model {
            PlanModel::Closed => match self.spawn_rate {
                Some(r) => format!(
                    "{} users, spawn rate {}/s, {bound}{default}",
                    self.peak().round(),
                    trim_float(r)
                ),
                None => format!(
                    "closed model, stages {}, {bound}{default}",
                    self.stages_text()
                ),
            },
            PlanModel::Open { max_concurrency } => {
                if self.stages.len() == 1 && self.initial == self.stages[0].target {
                    format!(
                        "open model, {} iterations/s, max {max_concurrency} in flight, {bound}{default}",
                        trim_float(self.initial)
                    )
                } else {
                    format!(
                        "open model, rate stages {}, max {max_concurrency} in flight, {bound}{default}",
                        self.stages_text()
                    )
                }
            }
        }
    }

    fn stages_text(&self) -> String {
        self.stages
            .iter()
            .map(|s| format!("{}→{}", format_duration(s.duration), trim_float(s.target)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The plan as recorded in a report.
    pub fn info(&self) -> PlanInfo {
        let open = self.is_open();
        PlanInfo {
            model: if open {
                LoadModel::Open
            } else {
                LoadModel::Closed
            },
            description: self.describe(),
            co_corrected: open,
            run_time_s: self.run_time.map(|t| t.as_secs_f64()),
            iterations: self.iterations,
            // A stage that holds until an iteration bound (no run time) has no finite
            // duration: it is left out, and `iterations` says what ends the run.
            stages: self
                .stages
                .iter()
                .filter(|s| s.duration != Duration::MAX)
                .map(|s| StageInfo {
                    duration_s: s.duration.as_secs_f64(),
                    target: s.target,
                })
                .collect(),
            spawn_rate: self.spawn_rate,
            max_concurrency: match self.model {
                PlanModel::Open { max_concurrency } => Some(max_concurrency),
                PlanModel::Closed => None,
            },
        }
    }
}

fn convert_stages(stages: &[StageSpec]) -> Result<Vec<Stage>, PlanError> {
    if stages.iter().all(|s| s.duration.is_zero()) {
        return Err(PlanError(
            "stages must last longer than zero in total".to_string(),
        ));
    }
    Ok(stages
        .iter()
        .map(|s| Stage {
            duration: s.duration,
            target: s.target,
        })
        .collect())
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn locust_users_spawn_rate_run_time() {
        let spec = LoadSpec {
            users: Some(100),
            spawn_rate: Some(10.0),
            run_time: Some(secs(60)),
            ..LoadSpec::default()
        };
        let plan = LoadPlan::from_spec(&spec).unwrap();
        assert_eq!(plan.target_at(secs(0)), 0.0);
        assert!((plan.target_at(secs(5)) - 50.0).abs() < 1e-9);
        assert_eq!(plan.target_at(secs(10)), 100.0);
        assert_eq!(plan.target_at(secs(59)), 100.0);
        assert_eq!(plan.run_time, Some(secs(60)));
        assert_eq!(plan.describe(), "100 users, spawn rate 10/s, 1m");
    }

    #[test]
    fn stages_interpolate_linearly() {
        let spec = LoadSpec {
            stages: vec![
                StageSpec {
                    duration: secs(10),
                    target: 20.0,
                },
                StageSpec {
                    duration: secs(10),
                    target: 20.0,
                },
                StageSpec {
                    duration: secs(10),
                    target: 0.0,
                },
            ],
            ..LoadSpec::default()
        };
        let plan = LoadPlan::from_spec(&spec).unwrap();
        assert!((plan.target_at(secs(5)) - 10.0).abs() < 1e-9);
        assert_eq!(plan.target_at(secs(15)), 20.0);
        assert!((plan.target_at(secs(25)) - 10.0).abs() < 1e-9);
        assert_eq!(plan.run_time, Some(secs(30)));
    }

    #[test]
    fn open_constant_rate() {
        let spec = LoadSpec {
            rate: Some(50.0),
            run_time: Some(secs(10)),
            max_concurrency: Some(20),
            ..LoadSpec::default()
        };
        let plan = LoadPlan::from_spec(&spec).unwrap();
        assert_eq!(plan.target_at(secs(0)), 50.0);
        assert_eq!(plan.target_at(secs(9)), 50.0);
        assert!(plan.info().co_corrected);
    }

    #[test]
    fn default_bound_and_conflicts() {
        let plan = LoadPlan::from_spec(&LoadSpec {
            users: Some(1),
            ..LoadSpec::default()
        })
        .unwrap();
        assert!(plan.default_bound);
        assert_eq!(plan.run_time, Some(DEFAULT_RUN_TIME));
        let both = LoadSpec {
            users: Some(1),
            rate: Some(1.0),
            ..LoadSpec::default()
        };
        assert!(LoadPlan::from_spec(&both).is_err());
        assert!(LoadPlan::from_spec(&LoadSpec::default()).is_err());
        let zero = LoadSpec {
            users: Some(0),
            ..LoadSpec::default()
        };
        assert!(LoadPlan::from_spec(&zero).is_err());
    }

    #[test]
    fn cli_model_overrides_file_model() {
        let file = LoadSpec {
            rate: Some(5.0),
            run_time: Some(secs(9)),
            ..LoadSpec::default()
        };
        let cli = LoadSpec {
            users: Some(3),
            ..LoadSpec::default()
        };
        let plan = LoadPlan::resolve(&cli, &file).unwrap();
        assert_eq!(plan.model, PlanModel::Closed);
        assert_eq!(plan.run_time, Some(secs(9)));
    }
}
