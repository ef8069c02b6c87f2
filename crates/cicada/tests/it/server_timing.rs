//! `Server-Timing`: a server's reported `db`, `pool` and `app` durations land in the report
//! exactly; malformed values are ignored and never fail a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use cicada::scenario::LoadSpec;

use crate::util::{row, run_toml, serve};

const SCENARIO: &str = r#"
[[users]]
[[users.tasks]]
[[users.tasks.steps]]
method = "GET"
path = "/db"
[[users.tasks.steps]]
method = "GET"
path = "/mixed"
[[users.tasks.steps]]
method = "GET"
path = "/bad"
[[users.tasks.steps]]
method = "GET"
path = "/none"
"#;

const ITERATIONS: u64 = 20;

fn timed(value: &'static str) -> [(&'static str, &'static str); 1] {
    [("server-timing", value)]
}

fn app() -> Router {
    let mixed = Arc::new(AtomicU64::new(0));
    Router::new()
        .route(
            "/db",
            get(|| async {
                // Slower than the reported 12.5 + 0.25 + 1.125 ms, as a real server is.
                tokio::time::sleep(Duration::from_millis(15)).await;
                (timed("pool;dur=0.25, db;dur=12.5, app;dur=1.125"), "ok")
            }),
        )
        .route(
            "/mixed",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                tokio::time::sleep(Duration::from_millis(8)).await;
                // Alternately one db entry, and two that add up (two queries): 2 + 5 = 7 ms
                // per pair, and a second header line on the second answer.
                if n.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                    axum::response::Response::builder()
                        .header("server-timing", "db;dur=2;desc=\"one query\"")
                        .body(axum::body::Body::from("ok"))
                        .unwrap()
                } else {
                    axum::response::Response::builder()
                        .header("server-timing", "db;dur=4, cache;desc=\"hit, warm\"")
                        .header("server-timing", "db;dur=1, pool;dur=\"0.5\"")
                        .body(axum::body::Body::from("ok"))
                        .unwrap()
                }
            }),
        )
        .with_state(mixed)
        .route(
            "/bad",
            get(|| async {
                (
                    timed("db;dur=abc, pool;dur=-3, d b;dur=1, db;dur=\"7, ;;;"),
                    "ok",
                )
            }),
        )
        .route("/none", get(|| async { "ok" }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_database_time_lands_in_the_report_exactly() {
    let host = serve(app()).await;
    let load = LoadSpec {
        users: Some(2),
        iterations: Some(ITERATIONS),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    };
    let report = run_toml(SCENARIO, &host, load).await;
    assert_eq!(report.aggregated.requests, 4 * ITERATIONS);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);

    let db = row(&report, "GET", "/db")
        .server_timing
        .clone()
        .expect("/db reported");
    assert_eq!(db.responses, ITERATIONS);
    assert_eq!(db.db_mean_ms, 12.5);
    assert_eq!(db.pool_wait_mean_ms, 0.25);
    assert_eq!(db.app_mean_ms, 1.125);
    assert_eq!(db.db_ms, 12.5 * ITERATIONS as f64);
    assert_eq!(db.pool_ms, 0.25 * ITERATIONS as f64);
    // The share is of the response time cicada measured (≥ the 15 ms sleep).
    let measured = row(&report, "GET", "/db").mean_ms;
    // (The histogram's mean is within its 3 significant digits of the exact one.)
    assert!(
        (db.response_ms / ITERATIONS as f64 - measured).abs() < measured * 0.002,
        "{db:?} vs mean {measured}"
    );
    assert!(
        db.db_share > 0.1 && db.db_share < 12.5 / 15.0,
        "db share {}",
        db.db_share
    );
    // Derived from the integer µs sums (the ms sums are those over 1000: the last bit may differ).
    assert!((db.db_share - db.db_ms / db.response_ms).abs() < 1e-12);

    let mixed = row(&report, "GET", "/mixed")
        .server_timing
        .clone()
        .expect("/mixed reported");
    assert_eq!(mixed.responses, ITERATIONS);
    assert_eq!(mixed.db_ms, 3.5 * ITERATIONS as f64);
    assert_eq!(mixed.db_mean_ms, 3.5);
    assert_eq!(mixed.pool_ms, 0.5 * (ITERATIONS / 2) as f64);
    assert_eq!(mixed.app_ms, 0.0);

    // Malformed values are ignored (the row passed, with no figures); no header, no figures.
    assert_eq!(row(&report, "GET", "/bad").server_timing, None);
    assert_eq!(row(&report, "GET", "/bad").failures, 0);
    assert_eq!(row(&report, "GET", "/none").server_timing, None);

    // The aggregated row and the per-second figures add up to the same sums, exactly.
    let all = report.aggregated.server_timing.clone().expect("aggregated");
    assert_eq!(all.responses, 2 * ITERATIONS);
    assert_eq!(all.db_ms, db.db_ms + mixed.db_ms);
    let seconds: Vec<_> = report
        .timeline
        .iter()
        .filter_map(|s| s.server_timing.as_ref())
        .collect();
    assert!(!seconds.is_empty());
    assert_eq!(
        seconds.iter().map(|s| s.responses).sum::<u64>(),
        all.responses
    );
    let db_us: f64 = seconds.iter().map(|s| (s.db_ms * 1000.0).round()).sum();
    assert_eq!(db_us / 1000.0, all.db_ms);
    assert!(seconds.iter().all(|s| (0.0..=1.0).contains(&s.db_share)));

    // The JSON carries the figures and reads back the same.
    let back = cicada_report::RunReport::from_json(&report.to_json_pretty()).unwrap();
    assert_eq!(back, report);
}
