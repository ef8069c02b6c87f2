//! Shared test helpers: the example report, the schema validator and a headless-Chromium driver.

#![allow(dead_code, unused_imports)]

pub use cicada_report::sample::{analysed_report, passing_report, sample_report};
pub use cicada_testkit::{chromium, schema_validator};
