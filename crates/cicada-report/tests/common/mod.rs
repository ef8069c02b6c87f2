//! Shared test helpers: the example report and a headless-Chromium driver.

#![allow(dead_code, unused_imports)]

pub mod chromium;

pub use cicada_report::sample::{analysed_report, passing_report, sample_report};
