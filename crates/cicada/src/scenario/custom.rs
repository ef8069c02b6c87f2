//! Custom steps: an async Rust closure as a step of a task, for logic a scenario file cannot
//! express. The closure gets a [`VirtualUser`] — the user's variables, its HTTP client, custom
//! timings and failures — and returns `Ok(())` or a [`StepError`], which fails the step.
//!
//! A custom step is a model value like any other step: [`Step::custom`](super::Step::custom)
//! or [`Task::custom`](super::Task::custom) in the builder, mixed freely with file steps, and
//! validated by [`super::compile`] (its name, the variables it [sets](CustomStep::sets), the
//! rows it [declares](CustomStep::declare)). Only tasks with a custom step pay for it: the
//! closure's future is boxed, and the handle allocated, once per run of the step.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use cicada::scenario::{CompileOptions, CustomStep, Program, Request, Scenario, StepError, Task, UserType};
//! use serde_json::Value;
//!
//! // Start a job, poll it with backoff until it is done, time the whole wait.
//! let poll = CustomStep::new("execute and wait", |vu| async move {
//!     let began = Instant::now();
//!     let job: Value = vu.post("/execute").json(&serde_json::json!({ "prompt": "hi" })).send().await?.json()?;
//!     let id = job["execution_id"].as_str().ok_or_else(|| StepError::new("no id"))?.to_string();
//!     let mut pause = Duration::from_millis(50);
//!     while vu.get(&format!("/executions/{id}")).name("/executions/{id}").send().await?
//!         .json::<Value>()?["status"] != "COMPLETED"
//!     {
//!         vu.sleep(pause).await?;
//!         pause = (pause * 2).min(Duration::from_secs(1));
//!     }
//!     vu.record("execute→completed", began.elapsed());
//!     vu.set("execution", id)?;
//!     Ok(())
//! })
//! .sets("execution")
//! .timing("execute→completed");
//!
//! let scenario = Scenario::builder("journey")
//!     .user_type(UserType::new("studio").task(
//!         Task::new("journey")
//!             .step(poll)
//!             // A file step reads the variable the closure set.
//!             .step(Request::get("/executions/{{execution}}/history")),
//!     ))
//!     .threshold("CUSTOM execute→completed: p95<5s")
//!     .build();
//! let program = Program::compile(&scenario, &CompileOptions::default())?;
//! let rows: Vec<String> = program.rows.iter().map(|r| format!("{} {}", r.method, r.name)).collect();
//! assert_eq!(rows, ["CUSTOM execute→completed", "CUSTOM execute and wait", "GET /executions/{{execution}}/history"]);
//! # Ok::<(), cicada::scenario::ScenarioError>(())
//! ```
//!
//! `crates/cicada/examples/custom_steps.rs` runs this journey against dryad.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::runner::custom::{Call, Reply, VirtualUser};

/// Method of the rows custom steps record: the step itself, [`VirtualUser::record`] and
/// [`VirtualUser::fail`] (like Locust's `request_type="CUSTOM"`). Like flow rows, they are left
/// out of the aggregated row.
pub const CUSTOM_METHOD: &str = "CUSTOM";

/// What a custom step's closure returns.
pub type StepResult = Result<(), StepError>;

/// The boxed future of one run of a custom step.
pub type StepFuture = Pin<Box<dyn Future<Output = StepResult> + Send + 'static>>;

/// The closure of a custom step, type-erased (called once per run of the step).
pub trait StepFn: Send + Sync + 'static {
    fn call(&self, vu: VirtualUser) -> StepFuture;
}

impl<F, Fut> StepFn for F
where
    F: Fn(VirtualUser) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StepResult> + Send + 'static,
{
    fn call(&self, vu: VirtualUser) -> StepFuture {
        Box::pin(self(vu))
    }
}

/// Why a custom step failed: its message becomes the failure group of the step's row.
///
/// Any error type converts into it with `?` (its `Display` text is the message), so
/// `reply.json::<T>()?` or an I/O error just work; [`StepError::new`] makes one from text.
pub struct StepError {
    message: String,
    stopped: bool,
}

impl StepError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            stopped: false,
        }
    }

    /// The run is stopping (from [`VirtualUser::sleep`]): not a failure, nothing is recorded.
    pub fn stopped() -> Self {
        Self {
            message: "the run is stopping".to_string(),
            stopped: true,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> Self {
        Self::new(e.to_string())
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepError")
            .field("message", &self.message)
            .field("stopped", &self.stopped)
            .finish()
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A step run by Rust code. Its own row, `CUSTOM <name>`, times each run of the closure and
/// counts an `Err` as a failure with its message.
#[derive(Clone)]
pub struct CustomStep {
    pub name: String,
    pub run: Arc<dyn StepFn>,
    /// Variables the closure writes that are not defined elsewhere (so file steps' templates
    /// may use them); each must be a valid variable name.
    pub sets: Vec<String>,
    /// Rows the closure records into, declared so thresholds may name them and they appear
    /// even when empty: `(method, name)`, e.g. `("CUSTOM", "execute→completed")` or
    /// `("GET", "/executions/{id}")`. Rows that are not declared are made when first used.
    pub rows: Vec<(String, String)>,
}

impl CustomStep {
    /// A custom step named `name` running `run`.
    pub fn new<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: Fn(VirtualUser) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StepResult> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Arc::new(run),
            sets: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Declare a variable the closure sets (for later steps' `{{templates}}`).
    pub fn sets(mut self, var: impl Into<String>) -> Self {
        self.sets.push(var.into());
        self
    }

    /// Declare a row the closure records into (see [`CustomStep::rows`]).
    pub fn declare(mut self, method: impl Into<String>, name: impl Into<String>) -> Self {
        self.rows.push((method.into(), name.into()));
        self
    }

    /// Declare a custom timing row ([`VirtualUser::record`]) named `name`.
    pub fn timing(self, name: impl Into<String>) -> Self {
        self.declare(CUSTOM_METHOD, name)
    }
}

impl fmt::Debug for CustomStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomStep")
            .field("name", &self.name)
            .field("sets", &self.sets)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// Two custom steps are equal when they have the same name, declarations and closure.
impl PartialEq for CustomStep {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.sets == other.sets
            && self.rows == other.rows
            && Arc::ptr_eq(&self.run, &other.run)
    }
}
