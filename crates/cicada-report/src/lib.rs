//! The run report of cicada: the data model of what a load test measured, the one source of
//! truth every renderer (`cicada-render`), the analysis (`cicada-analysis`) and the engine
//! (`cicada`) share.
//!
//! - [`model`]: [`RunReport`] and its parts (requests, per-second timeline, failures,
//!   thresholds, verdict), serialised as the `--json` format;
//! - [`analysis_model`]: the performance analysis a run may carry (findings, resources,
//!   scraped metrics, capacity, auto-scaling);
//! - [`histogram`]: the HDR histogram helpers every percentile comes from, and their encoding
//!   in the report;
//! - [`schema`]: the JSON Schema of the `--json` format (`docs/report.schema.json`);
//! - [`merge`]: one exact report from the reports of several workers (distributed runs);
//! - [`sample`]: a realistic example report for docs, demos and tests.
//!
//! ```
//! let report = cicada_report::sample::sample_report();
//! let json = report.to_json_pretty();
//! let back: cicada_report::RunReport = serde_json::from_str(&json).unwrap();
//! assert_eq!(back.aggregated.requests, report.aggregated.requests);
//! ```

pub mod analysis_model;
pub mod histogram;
pub mod merge;
pub mod model;
pub mod sample;
pub mod schema;

pub use model::RunReport;
