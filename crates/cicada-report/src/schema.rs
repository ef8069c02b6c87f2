//! The JSON Schema (draft 2020-12) of the `--json` report, generated from the [`RunReport`]
//! types so it can never drift from them. The committed copy lives in
//! `docs/report.schema.json`; a test fails when it differs from [`json_schema`].

use crate::model::{RunReport, SCHEMA_VERSION};

/// The schema as pretty-printed JSON, ending in a newline (the exact committed file).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RunReport);
    let mut value = serde_json::to_value(&schema).expect("a schema serialises");
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "$id".into(),
            format!("https://cicada.invalid/schemas/report-v{SCHEMA_VERSION}.json").into(),
        );
    }
    let mut text = serde_json::to_string_pretty(&value).expect("a schema serialises");
    text.push('\n');
    text
}
