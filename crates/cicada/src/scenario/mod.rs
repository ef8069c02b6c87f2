//! Scenarios: the model ([`model`]), its TOML form ([`file`]), a builder for code
//! ([`builder`]) and compilation into a runnable [`compile::Program`].

pub mod builder;
pub mod compile;
pub mod custom;
pub mod error;
pub mod expr;
pub mod file;
pub mod model;

pub use compile::{CompileOptions, Program};
pub use custom::{CustomStep, StepError, StepResult, VirtualUser};
pub use error::ScenarioError;
pub use file::{load_scenario_file, parse_scenario};
pub use model::*;
