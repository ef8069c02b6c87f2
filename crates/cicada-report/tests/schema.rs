//! The committed JSON Schema of the `--json` report (`docs/report.schema.json`) is the one
//! generated from the model's types.

use cicada_report::schema;

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.schema.json")
}

#[test]
fn committed_schema_is_the_generated_one() {
    let generated = schema::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(schema_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(schema_path())
        .expect("docs/report.schema.json exists (run with UPDATE_SCHEMA=1 to write it)");
    assert!(
        committed == generated,
        "docs/report.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p cicada-report --test schema`"
    );
}
