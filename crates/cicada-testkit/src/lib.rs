//! Test helpers shared by cicada's crates (a dev-dependency only; never shipped):
//!
//! - [`chromium`]: headless Chromium driven over the DevTools protocol, to check a page the
//!   way a reader's browser sees it;
//! - [`schema_validator`]: the committed JSON Schema of the report, `docs/report.schema.json`;
//! - [`required`]: the tools a test needs (Chromium, `taskset`, nginx, PostgreSQL): a missing
//!   one skips the test loudly, or fails it when `CI` is set.

pub mod chromium;
pub mod required;

/// The committed JSON schema of the `--json` report (`docs/report.schema.json`), compiled.
pub fn schema_validator() -> jsonschema::Validator {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}
