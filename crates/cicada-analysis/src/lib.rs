//! Performance analysis for cicada.
//!
//! - [`resources`]: CPU % and RSS of the generator and the target by PID, and system CPU,
//!   sampled from `/proc`.
//! - [`prom`]: the target's Prometheus `/metrics`, parsed and turned into time series.
//! - [`usl`]: the Universal Scalability Law fit of throughput vs concurrency.
//! - [`capacity`]: the capacity search (`cicada capacity`) as a state machine.
//! - [`findings`]: ranked bottleneck findings and the generator-health verdict.
//! - [`scaling`]: auto-scaling probes and checks.
//! - [`server_timing`]: the per-second database share and pool wait from the `Server-Timing`
//!   figures the engine puts in the report.
//! - [`monitor`]: the background task that collects resources, scrapes and probe readings
//!   once a second during a run.
//!
//! Every part is a library the engine and the CLI call; the results are the plain data types
//! of [`cicada_report::analysis_model`], rendered with the rest of the run report. At the end
//! of a run, [`attach_analysis`] puts what was collected into the report and ranks the findings.
//!
//! ```
//! use cicada_analysis::prom::{MetricSelector, SeriesAccumulator, parse_text};
//! use cicada_report::analysis_model::SeriesStat;
//!
//! // Two scrapes of a target's /metrics, one second apart: the counter becomes a rate.
//! let mut acc = SeriesAccumulator::new(MetricSelector::new(["dryad_*"]).unwrap(), &[0.95]);
//! for (t, n) in [(1.0, 100), (2.0, 350)] {
//!     let text = format!("# TYPE dryad_requests_total counter\ndryad_requests_total {n}\n");
//!     acc.add_scrape(t, &parse_text(&text).unwrap());
//! }
//! let series = acc.series();
//! assert_eq!(series[0].stat, SeriesStat::Rate);
//! assert_eq!(series[0].points[0].value, 250.0);
//! ```

mod attach;
pub mod capacity;
pub mod findings;
pub mod http_get;
pub mod monitor;
pub mod prom;
pub mod resources;
pub mod scaling;
pub mod server_timing;
pub mod usl;

pub use attach::{Collected, attach_analysis};
