//! Reports from real runs match the committed JSON Schema (`docs/report.schema.json`), which
//! is the contract with every renderer.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cicada::scenario::LoadSpec;

use crate::util::{run_toml, serve};

fn assert_matches_schema(json: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let instance: serde_json::Value = serde_json::from_str(json).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_open_and_iteration_bounded_reports_match_the_schema() {
    let app = Router::new().route("/x", get(|| async { "ok" })).route(
        "/bad",
        get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "no") }),
    );
    let host = serve(app).await;
    let toml = "thresholds = [\"p95<1s\", \"GET /bad: error_rate<1%\"]\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/bad\"\n";
    let loads = [
        LoadSpec {
            users: Some(2),
            spawn_rate: Some(100.0),
            run_time: Some(Duration::from_millis(1200)),
            ..LoadSpec::default()
        },
        LoadSpec {
            rate: Some(40.0),
            run_time: Some(Duration::from_millis(1200)),
            max_concurrency: Some(5),
            ..LoadSpec::default()
        },
        LoadSpec {
            users: Some(2),
            spawn_rate: Some(100.0),
            iterations: Some(30),
            ..LoadSpec::default()
        },
        LoadSpec {
            rate: Some(100.0),
            iterations: Some(30),
            ..LoadSpec::default()
        },
    ];
    for load in loads {
        let report = run_toml(toml, &host, load.clone()).await;
        assert!(report.aggregated.requests > 0, "{load:?}");
        assert!(report.aggregated.failures > 0, "{load:?}");
        let json = report.to_json_pretty();
        assert_matches_schema(&json);
        let back = cicada_report::RunReport::from_json(&json).unwrap();
        assert_eq!(back, report, "{load:?}");
    }
}
