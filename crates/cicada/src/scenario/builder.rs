//! Building a [`Scenario`] from code, for logic a file cannot express. Produces exactly the
//! model the TOML loader produces, so it is validated and compiled the same way.
//!
//! ```
//! use std::time::Duration;
//! use cicada::scenario::{Request, Scenario, Task, UserType, Wait};
//!
//! let scenario = Scenario::builder("example")
//!     .host("http://127.0.0.1:8000")
//!     .variable("user", "alice")
//!     .user_type(
//!         UserType::new("reader")
//!             .wait(Wait::Between(Duration::from_secs(1), Duration::from_secs(3)))
//!             .on_start(
//!                 Request::post("/login")
//!                     .json(serde_json::json!({"username": "{{user}}"}))
//!                     .capture_json("token", "/access_token"),
//!             )
//!             .header("Authorization", "Bearer {{token}}")
//!             .task(Task::single(Request::get("/items")).weight(3)),
//!     )
//!     .threshold("p95<200ms")
//!     .build();
//! assert_eq!(scenario.user_types[0].tasks[0].weight, 3);
//! ```

use std::path::PathBuf;
use std::time::Duration;

use std::future::Future;

use super::custom::{CustomStep, StepResult, VirtualUser};
use super::error::ScenarioError;
use super::model::{
    Body, Capture, CaptureSource, Check, Condition, Defaults, Feeder, FeederMode, Foreach,
    Generator, GeneratorKind, Group, IfStep, LoadSpec, LoopStep, OnTimeout, Pacing, Request,
    Scenario, Step, Task, ThresholdSpec, Until, UserType, Wait,
};

/// Fluent construction of a [`Scenario`].
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    scenario: Scenario,
}

impl Scenario {
    /// Start building a scenario in code.
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder {
            scenario: Scenario {
                name: name.into(),
                ..Scenario::default()
            },
        }
    }
}

impl ScenarioBuilder {
    pub fn host(mut self, url: impl Into<String>) -> Self {
        self.scenario.defaults.host = Some(url.into());
        self
    }

    /// Replace all defaults.
    pub fn defaults(mut self, defaults: Defaults) -> Self {
        self.scenario.defaults = defaults;
        self
    }

    /// A header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.scenario
            .defaults
            .headers
            .push((name.into(), value.into()));
        self
    }

    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.scenario.defaults.connect_timeout = d;
        self
    }

    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.scenario.defaults.request_timeout = d;
        self
    }

    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.scenario.variables.push((name.into(), value.into()));
        self
    }

    pub fn generator(mut self, name: impl Into<String>, kind: GeneratorKind) -> Self {
        self.scenario.generators.push(Generator {
            name: name.into(),
            kind,
        });
        self
    }

    pub fn feeder(
        mut self,
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        mode: FeederMode,
    ) -> Self {
        self.scenario.feeders.push(Feeder {
            name: name.into(),
            path: path.into(),
            mode,
            origin: None,
        });
        self
    }

    pub fn user_type(mut self, user_type: UserType) -> Self {
        self.scenario.user_types.push(user_type);
        self
    }

    pub fn threshold(mut self, expression: impl Into<String>) -> Self {
        self.scenario.thresholds.push(ThresholdSpec {
            expression: expression.into(),
            origin: None,
        });
        self
    }

    /// The load plan (command-line flags still override it).
    pub fn load(mut self, load: LoadSpec) -> Self {
        self.scenario.load = load;
        self
    }

    pub fn build(self) -> Scenario {
        self.scenario
    }

    /// Go on building from a scenario file (its user types, tasks, variables, thresholds…):
    /// e.g. to add tasks with custom steps to a user type written in TOML.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ScenarioError> {
        Ok(Self::from_scenario(super::file::load_scenario_file(path)?))
    }

    /// Go on building from a scenario.
    pub fn from_scenario(scenario: Scenario) -> Self {
        Self { scenario }
    }

    /// Change the user type named `name` (e.g. add a task); an error when there is none.
    pub fn extend_user_type(
        mut self,
        name: &str,
        change: impl FnOnce(UserType) -> UserType,
    ) -> Result<Self, ScenarioError> {
        let Some(i) = self.scenario.user_types.iter().position(|u| u.name == name) else {
            let known: Vec<&str> = self
                .scenario
                .user_types
                .iter()
                .map(|u| u.name.as_str())
                .collect();
            return Err(ScenarioError::invalid(
                None,
                format!(
                    "there is no user type {name:?} to extend (known: {})",
                    known.join(", ")
                ),
            ));
        };
        let u = self.scenario.user_types.remove(i);
        self.scenario.user_types.insert(i, change(u));
        Ok(self)
    }
}

impl UserType {
    /// A user type with weight 1, no wait and no tasks yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            weight: 1,
            wait: Wait::None,
            on_start: Vec::new(),
            on_stop: Vec::new(),
            tasks: Vec::new(),
            headers: Vec::new(),
            origin: None,
        }
    }

    pub fn weight(mut self, weight: i64) -> Self {
        self.weight = weight;
        self
    }

    pub fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    pub fn on_start(mut self, request: Request) -> Self {
        self.on_start.push(request);
        self
    }

    pub fn on_stop(mut self, request: Request) -> Self {
        self.on_stop.push(request);
        self
    }

    pub fn task(mut self, task: Task) -> Self {
        self.tasks.push(task);
        self
    }

    /// A header on every request of this user type.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Task {
    /// An empty task with weight 1; add steps with [`Task::step`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            weight: 1,
            tags: Vec::new(),
            steps: Vec::new(),
            origin: None,
        }
    }

    /// A task of one custom step (see [`Step::custom`]), named `name` like the step.
    pub fn custom<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: Fn(VirtualUser) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StepResult> + Send + 'static,
    {
        let name = name.into();
        Self::new(name.clone()).step(CustomStep::new(name, run))
    }

    /// A task of one request, named after its stats name.
    pub fn single(request: Request) -> Self {
        Self::new(request.stats_name().to_string()).step(request)
    }

    pub fn weight(mut self, weight: i64) -> Self {
        self.weight = weight;
        self
    }

    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Add a step: a [`Request`] or a flow [`Step`] (`Step::group`, [`Until`], …).
    pub fn step(mut self, step: impl Into<Step>) -> Self {
        self.steps.push(step.into());
        self
    }
}

impl Step {
    /// An async closure as a step: it gets the user's [`VirtualUser`] handle (variables,
    /// HTTP client, custom timings and failures) and returns `Ok(())` or a [`StepError`](super::StepError),
    /// which fails the step. Its own row is `CUSTOM <name>`. For declarations (variables it
    /// sets, rows it records), build a [`CustomStep`] instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cicada::scenario::{Step, VirtualUser};
    ///
    /// let step = Step::custom("think", |vu| async move {
    ///     vu.record("thinking", Duration::from_millis(5));
    ///     Ok(())
    /// });
    /// assert!(matches!(step, Step::Custom(_)));
    /// ```
    pub fn custom<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: Fn(VirtualUser) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StepResult> + Send + 'static,
    {
        Step::Custom(CustomStep::new(name, run))
    }

    /// A named group of steps, timed as a whole (its own `GROUP` row).
    pub fn group(name: impl Into<String>, steps: impl IntoIterator<Item = Step>) -> Self {
        Step::Group(Group {
            name: name.into(),
            steps: steps.into_iter().collect(),
            origin: None,
        })
    }

    /// Run `then` when `condition` holds, else `otherwise`.
    pub fn when(
        condition: impl Into<String>,
        then: impl IntoIterator<Item = Step>,
        otherwise: impl IntoIterator<Item = Step>,
    ) -> Self {
        Step::If(IfStep {
            condition: Condition::new(condition),
            then: then.into_iter().collect(),
            otherwise: otherwise.into_iter().collect(),
            origin: None,
        })
    }

    /// Run `steps` `times` times.
    pub fn repeat(times: u32, steps: impl IntoIterator<Item = Step>) -> Self {
        Step::Loop(LoopStep {
            times,
            index: None,
            steps: steps.into_iter().collect(),
            origin: None,
        })
    }

    /// A pause between two steps (a constant or between wait).
    pub fn wait(wait: Wait) -> Self {
        Step::Wait(wait)
    }
}

impl Until {
    /// Repeat `steps` until `condition` holds: every 1 s, for at most 30 s, failing on timeout.
    pub fn new(condition: impl Into<String>, steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            name: None,
            condition: Condition::new(condition),
            steps: steps.into_iter().collect(),
            pacing: Pacing::Interval(super::file::DEFAULT_UNTIL_INTERVAL),
            max_tries: None,
            timeout: super::file::DEFAULT_UNTIL_TIMEOUT,
            on_timeout: OnTimeout::Fail,
            origin: None,
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn interval(mut self, d: Duration) -> Self {
        self.pacing = Pacing::Interval(d);
        self
    }

    pub fn backoff(mut self, initial: Duration, factor: f64, max: Duration) -> Self {
        self.pacing = Pacing::Backoff {
            initial,
            factor,
            max,
        };
        self
    }

    pub fn max_tries(mut self, n: u32) -> Self {
        self.max_tries = Some(n);
        self
    }

    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    pub fn on_timeout(mut self, on_timeout: OnTimeout) -> Self {
        self.on_timeout = on_timeout;
        self
    }
}

impl From<CustomStep> for Step {
    fn from(c: CustomStep) -> Self {
        Step::Custom(c)
    }
}

impl From<Until> for Step {
    fn from(u: Until) -> Self {
        Step::Until(u)
    }
}

impl Foreach {
    /// For each element of the array at `pointer` in the last response, bind it to `bind`
    /// and run `steps`.
    pub fn new(
        pointer: impl Into<String>,
        bind: impl Into<String>,
        steps: impl IntoIterator<Item = Step>,
    ) -> Self {
        Self {
            name: None,
            pointer: pointer.into(),
            from: None,
            bind: bind.into(),
            select: None,
            limit: None,
            steps: steps.into_iter().collect(),
            origin: None,
        }
    }

    /// Bind the value at this pointer in each element instead of the whole element.
    pub fn select(mut self, pointer: impl Into<String>) -> Self {
        self.select = Some(pointer.into());
        self
    }

    /// Read the array from this variable's JSON text instead of the last response.
    pub fn from_var(mut self, var: impl Into<String>) -> Self {
        self.from = Some(var.into());
        self
    }

    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl From<Foreach> for Step {
    fn from(f: Foreach) -> Self {
        Step::Foreach(f)
    }
}

impl Request {
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new("PUT", path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new("DELETE", path)
    }

    /// Stats name (default: the path template).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body; its strings may hold `{{var}}` templates.
    pub fn json(mut self, value: serde_json::Value) -> Self {
        self.body = Some(Body::Json(value));
        self
    }

    /// A raw body with a content type.
    pub fn body(mut self, content: impl Into<String>, content_type: impl Into<String>) -> Self {
        self.body = Some(Body::Raw {
            content: content.into(),
            content_type: Some(content_type.into()),
        });
        self
    }

    /// Accept these statuses (instead of any 2xx/3xx).
    pub fn expect_status(mut self, statuses: &[u16]) -> Self {
        self.expect_status = statuses.to_vec();
        self
    }

    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    pub fn capture_json(mut self, var: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.captures.push(Capture {
            var: var.into(),
            source: CaptureSource::JsonPointer(pointer.into()),
        });
        self
    }

    pub fn capture_header(mut self, var: impl Into<String>, header: impl Into<String>) -> Self {
        self.captures.push(Capture {
            var: var.into(),
            source: CaptureSource::Header(header.into()),
        });
        self
    }

    pub fn capture_regex(mut self, var: impl Into<String>, regex: impl Into<String>) -> Self {
        self.captures.push(Capture {
            var: var.into(),
            source: CaptureSource::Regex(regex.into()),
        });
        self
    }
}
