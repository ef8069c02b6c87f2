//! cicada: a load-generation engine with Locust's model and truthful numbers.
//!
//! A [`scenario::Scenario`] (from TOML or built in code) is compiled into a
//! [`scenario::Program`]; a [`plan::LoadPlan`] says how much load; [`runner::Runner`] drives
//! simulated users over per-user keep-alive connections and records into sharded HDR
//! histograms, and returns a [`cicada_report::RunReport`].
//!
//! - [`scenario`]: the model, its TOML form (`docs/scenario.md`), the builder, compilation
//!   (templates resolved, feeders read, weights checked, stats rows numbered), custom steps
//!   in Rust ([`scenario::custom`]: async closures with the user's variables, its HTTP client,
//!   custom timings and failures);
//! - [`plan`]: `-u/-r/-t`, stages and arrival rates normalised into one [`plan::LoadPlan`];
//! - [`runner`]: closed and open models, the [`runner::RunHandle`] / [`runner::RunControl`]
//!   (stop, change users or rate, cheap snapshots);
//! - [`http`]: the engine's own HTTP/1.1 client (one keep-alive connection per user, `httparse`), rustls, cookies;
//! - [`stats`]: sharded recording, exact per-second merges, bounded failure groups, the report;
//! - [`segment`]: execution segments — one generator's exact part of a run split across
//!   several (`RunConfig::segment`, `RunConfig::start_at`);
//! - [`launch`]: the `cicada run` flow as a library (validate everything, send nothing);
//! - [`verdict`]: the pass / fail decision and its exit code (thresholds, failed requests).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cicada::prelude::*;
//!
//! let scenario = load_scenario_file(std::path::Path::new("load.toml"))?;
//! let program = Program::compile(&scenario, &CompileOptions::default())?;
//! let plan = LoadPlan::resolve(&LoadSpec::default(), &program.load)?;
//! let config = RunConfig::new(program, plan, "http://127.0.0.1:8000")?;
//! let handle = Runner::start(config).await?;
//! let report = handle.wait().await?;
//! println!("{} requests", report.aggregated.requests);
//! # Ok(()) }
//! ```

pub mod duration;
pub mod http;
pub mod launch;
pub mod plan;
pub mod runner;
pub mod scenario;
pub mod segment;
pub mod start_time;
pub mod stats;
pub mod target;
pub mod template;
pub mod threshold;
pub mod verdict;

/// The types most programs need.
pub mod prelude {
    pub use crate::launch::{LaunchOptions, SetupError, prepare};
    pub use crate::plan::{LoadPlan, PlanModel};
    pub use crate::runner::{RunConfig, RunControl, RunError, RunHandle, Runner};
    pub use crate::scenario::{
        CompileOptions, LoadSpec, Program, Request, Scenario, Task, UserType, Wait,
        load_scenario_file,
    };
    pub use cicada_report::RunReport;
}
