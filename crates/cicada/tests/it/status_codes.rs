//! The status-code breakdown and the checks' pass counts: every request of a row lands in one
//! status (or in "no response"), every evaluated check is counted, and the aggregated row holds
//! the sum.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use cicada::scenario::LoadSpec;

use crate::util::{row, run_toml, serve};

const SCENARIO: &str = r#"
[defaults]
request_timeout = "300ms"

[[users]]
[[users.tasks]]
method = "GET"
path = "/ok"
checks = [{ body_contains = "good" }, { status = 200 }]

[[users.tasks]]
method = "GET"
path = "/missing"
checks = [{ body_contains = "good" }]

[[users.tasks]]
name = "bad body"
method = "GET"
path = "/ok"
checks = [{ status = 200 }, { body_contains = "bad" }, { status = 200 }]

[[users.tasks]]
method = "GET"
path = "/slow"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_checks_are_counted_per_row_and_overall() {
    let app = Router::new()
        .route("/ok", get(|| async { "all good" }))
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "gone") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        );
    let host = serve(app).await;
    let load = LoadSpec {
        users: Some(2),
        iterations: Some(60),
        run_time: Some(Duration::from_secs(60)),
        ..LoadSpec::default()
    };
    let report = run_toml(SCENARIO, &host, load).await;
    let codes = |r: &cicada_report::model::RequestStats| -> Vec<(u16, u64)> {
        r.status_codes
            .codes
            .iter()
            .map(|c| (c.status, c.count))
            .collect()
    };

    let ok = row(&report, "GET", "/ok");
    assert!(ok.requests > 0);
    assert_eq!(codes(ok), [(200, ok.requests)]);
    assert_eq!(ok.status_codes.no_response, 0);
    let checks = ok.checks.unwrap();
    assert_eq!(
        (checks.evaluated, checks.passed),
        (2 * ok.requests, 2 * ok.requests)
    );

    // A 404 fails on its status: its checks never run.
    let missing = row(&report, "GET", "/missing");
    assert_eq!(codes(missing), [(404, missing.requests)]);
    assert!(missing.checks.is_none(), "{:?}", missing.checks);

    // The second check fails: two evaluated, one passed, the third not run.
    let bad = row(&report, "GET", "bad body");
    assert_eq!(codes(bad), [(200, bad.requests)]);
    assert_eq!(bad.failures, bad.requests);
    let checks = bad.checks.unwrap();
    assert_eq!(
        (checks.evaluated, checks.passed),
        (2 * bad.requests, bad.requests)
    );

    // Timed out: no status at all.
    let slow = row(&report, "GET", "/slow");
    assert!(slow.requests > 0);
    assert!(slow.status_codes.codes.is_empty());
    assert_eq!(slow.status_codes.no_response, slow.requests);

    // The aggregated row is the sum, codes ascending.
    let all = &report.aggregated;
    assert_eq!(
        codes(all),
        [(200, ok.requests + bad.requests), (404, missing.requests)]
    );
    assert_eq!(all.status_codes.no_response, slow.requests);
    assert_eq!(all.status_codes.total(), all.requests);
    let checks = all.checks.unwrap();
    assert_eq!(checks.evaluated, 2 * ok.requests + 2 * bad.requests);
    assert_eq!(checks.passed, 2 * ok.requests + bad.requests);
}
