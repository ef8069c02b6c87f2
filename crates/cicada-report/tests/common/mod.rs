//! Shared test helpers: the example report and a headless-Chromium driver.

#![allow(dead_code, unused_imports)]

pub mod chromium;

pub use cicada_report::sample::{analysed_report, passing_report, sample_report};

/// A validator for the committed JSON schema, `docs/report.schema.json`.
pub fn schema_validator() -> jsonschema::Validator {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}
