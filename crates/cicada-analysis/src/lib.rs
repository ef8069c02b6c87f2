//! Performance analysis for cicada.
//!
//! - [`resources`]: CPU % and RSS of the generator and the target by PID, and system CPU,
//!   sampled from `/proc`.
//! - [`prom`]: the target's Prometheus `/metrics`, parsed and turned into time series.
//! - [`usl`]: the Universal Scalability Law fit of throughput vs concurrency.
//! - [`capacity`]: the capacity search (`cicada capacity`) as a state machine.
//! - [`findings`]: ranked bottleneck findings and the generator-health verdict.
//! - [`scaling`]: auto-scaling probes and checks.
//! - [`server_timing`]: `Server-Timing` headers turned into per-second database shares.
//!
//! Every part is a library the engine and the CLI call; the results are the plain data types
//! of [`cicada_report::analysis_model`], rendered with the rest of the run report. At the end
//! of a run, [`attach_analysis`] puts what was collected into the report and ranks the findings.

mod attach;
pub mod capacity;
pub mod findings;
pub mod http_get;
pub mod prom;
pub mod resources;
pub mod scaling;
pub mod server_timing;
pub mod usl;

pub use attach::{Collected, attach_analysis};
