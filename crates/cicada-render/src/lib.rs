//! The renderers of cicada's run report ([`cicada_report::RunReport`]): the formats people
//! read, all rendered from the one report so numbers agree across formats by construction.
//!
//! - [`html`]: one self-contained page (inline CSS and SVG charts, no script, no network);
//! - [`locust_csv`]: Locust-compatible `_stats.csv`, `_stats_history.csv`, `_failures.csv`;
//! - [`junit`]: thresholds as JUnit test cases for CI;
//! - [`compare`]: per-request deltas between two runs with regression gates;
//! - [`live`]: the terminal view of a run in progress;
//! - [`format`]: the number formatting every view shares;
//! - [`svg`]: the inline charts.
//!
//! [`write_outputs`] writes every format a user asked for.
//!
//! ```
//! # fn demo(report: &cicada_report::RunReport) {
//! let page: String = cicada_render::html::render_html(report);
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! # }
//! ```

pub mod compare;
mod escape;
pub mod format;
pub mod html;
pub mod junit;
pub mod live;
pub mod locust_csv;
pub mod outputs;
pub mod svg;

pub use escape::escape;
pub use outputs::{OutputOptions, write_outputs};
