//! Run reports for cicada: the data model of what a load test measured ([`model`]) and the
//! renderers that turn it into the formats people read:
//!
//! - [`html`]: one self-contained page (inline CSS and SVG charts, no script, no network);
//! - [`schema`]: the JSON Schema of the `--json` format (`docs/report.schema.json`);
//! - [`locust_csv`]: Locust-compatible `_stats.csv`, `_stats_history.csv`, `_failures.csv`;
//! - [`junit`]: thresholds as JUnit test cases for CI;
//! - [`compare`]: per-request deltas between two runs with regression gates;
//! - [`merge`]: one exact report from the reports of several workers (distributed runs);
//! - [`histogram`]: the HDR histogram helpers every percentile comes from;
//! - [`live`]: the terminal view of a run in progress;
//! - [`sample`]: a realistic example report for docs, demos and tests.
//!
//! [`write_outputs`] writes every format a user asked for.
//!
//! ```
//! # fn demo(report: &cicada_report::RunReport) {
//! let page: String = cicada_report::html::render_html(report);
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! # }
//! ```

pub mod analysis_model;
pub mod compare;
mod escape;
pub mod format;
pub mod histogram;
pub mod html;
pub mod junit;
pub mod live;
pub mod locust_csv;
pub mod merge;
pub mod model;
pub mod outputs;
pub mod sample;
pub mod schema;
pub mod svg;

pub use escape::escape;
pub use model::RunReport;
pub use outputs::{OutputOptions, write_outputs};
