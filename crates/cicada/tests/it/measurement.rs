//! Measurement: percentiles against known delays, coordinated omission in the open model,
//! report completeness.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use cicada::scenario::LoadSpec;
use cicada::stats::histogram::decode;

use crate::util::{run_toml, serve};

const ONE_TASK: &str = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/d\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_of_fixed_delays_land_right() {
    // Alternating 10 ms and 50 ms answers: half the requests each.
    let n = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/d",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                let ms = if n.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                    10
                } else {
                    50
                };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "ok"
            }),
        )
        .with_state(n);
    let host = serve(app).await;
    let load = LoadSpec {
        users: Some(1),
        iterations: Some(60),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    };
    let report = run_toml(ONE_TASK, &host, load).await;
    let a = &report.aggregated;
    assert_eq!(a.requests, 60);
    let hist = decode(a.histogram.as_deref().expect("histogram stored")).expect("decodes");
    assert_eq!(hist.len(), 60);
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    // Lower half at ~10 ms, upper half at ~50 ms. Timer overshoot, loopback and a shared,
    // busy CI machine add a little, never take away: the bounds are one-sided tight.
    for p in [0.1, 0.25, 0.4] {
        assert!((10.0..30.0).contains(&q(p)), "p{} = {}", p * 100.0, q(p));
    }
    for p in [0.6, 0.75, 0.9] {
        assert!((50.0..80.0).contains(&q(p)), "p{} = {}", p * 100.0, q(p));
    }
    assert!(
        (50.0..80.0).contains(&a.percentiles.p95),
        "p95 {}",
        a.percentiles.p95
    );
    assert!(
        a.min_ms >= 10.0 && a.max_ms < 150.0,
        "{} {}",
        a.min_ms,
        a.max_ms
    );
    assert!((30.0..50.0).contains(&a.mean_ms), "mean {}", a.mean_ms);
    assert!(a.ttfb_mean_ms.is_some() && a.connect_mean_ms.is_some());
}

/// A server that stalls every request arriving in [1 s, 2 s) after its first request until 2 s.
async fn stalling_server() -> String {
    let first: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    let app = Router::new()
        .route(
            "/d",
            get(
                |State(first): State<Arc<std::sync::OnceLock<Instant>>>| async move {
                    let t0 = *first.get_or_init(Instant::now);
                    let at = t0.elapsed();
                    if at >= Duration::from_secs(1) && at < Duration::from_secs(2) {
                        tokio::time::sleep_until((t0 + Duration::from_secs(2)).into()).await;
                    }
                    "ok"
                },
            ),
        )
        .with_state(first);
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_shows_a_stall_and_counts_drops() {
    let host = stalling_server().await;
    let load = LoadSpec {
        rate: Some(50.0),
        max_concurrency: Some(10),
        run_time: Some(Duration::from_secs(3)),
        ..LoadSpec::default()
    };
    let report = run_toml(ONE_TASK, &host, load).await;
    assert!(report.run.plan.co_corrected);
    let open = report.open_model.as_ref().expect("open-model stats");
    assert_eq!(open.scheduled_iterations, 150, "{open:?}");
    // 50 arrivals/s during a 1 s stall with 10 slots: most of that second's arrivals drop.
    assert!(open.dropped_iterations >= 20, "{open:?}");
    assert_eq!(open.peak_concurrency, 10);
    assert_eq!(
        open.started_iterations + open.dropped_iterations,
        open.scheduled_iterations
    );
    assert_eq!(report.aggregated.requests, open.started_iterations);
    // The stall shows in the tail.
    assert!(
        report.aggregated.percentiles.p99 >= 500.0,
        "p99 {}",
        report.aggregated.percentiles.p99
    );
    let dropped_per_s: Vec<u64> = report
        .timeline
        .iter()
        .filter_map(|i| i.dropped_iterations)
        .collect();
    assert!(dropped_per_s.iter().any(|d| *d > 0), "{dropped_per_s:?}");
    assert!(
        report
            .verdict
            .warnings
            .iter()
            .any(|w| w.contains("dropped"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_is_labelled_not_co_corrected() {
    let host = stalling_server().await;
    let load = LoadSpec {
        users: Some(5),
        spawn_rate: Some(100.0),
        run_time: Some(Duration::from_millis(2500)),
        ..LoadSpec::default()
    };
    let toml = "[[users]]\nwait = { constant = \"20ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/d\"\n";
    let report = run_toml(toml, &host, load).await;
    assert!(!report.run.plan.co_corrected);
    assert!(report.open_model.is_none());
    assert!(
        report
            .timeline
            .iter()
            .all(|i| i.dropped_iterations.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_is_complete() {
    let app = Router::new().route("/d", get(|| async { "hello" }));
    let host = serve(app).await;
    let toml = format!(
        "name = \"complete\"\nthresholds = [\"p95<1s\", \"GET /d: error_rate<1%\", \"rps>1000000\"]\n{ONE_TASK}"
    );
    let load = LoadSpec {
        users: Some(2),
        spawn_rate: Some(100.0),
        run_time: Some(Duration::from_millis(2200)),
        ..LoadSpec::default()
    };
    let report = run_toml(&toml, &host, load).await;
    assert_eq!(report.run.scenario, "complete");
    assert_eq!(report.run.seed, 7);
    assert!(report.timeline.len() >= 2);
    let first = &report.timeline[0];
    assert_eq!(first.elapsed_s, 1);
    assert_eq!(first.by_request.len(), 1);
    assert!(first.cumulative.is_some());
    let last = report.timeline.last().unwrap();
    assert_eq!(last.total_requests, report.aggregated.requests);
    let row = &report.requests[0];
    assert_eq!(row.avg_size_bytes, 5.0);
    assert!(!row.distribution.is_empty());
    assert!(decode(row.histogram.as_deref().unwrap()).is_some());
    assert_eq!(report.thresholds.len(), 3);
    assert!(report.thresholds[0].passed && report.thresholds[1].passed);
    assert_eq!(report.thresholds[1].scope.as_deref(), Some("GET /d"));
    assert!(!report.thresholds[2].passed);
    assert!(!report.verdict.passed);
    assert_eq!(report.verdict.failed.len(), 1);
    // The JSON form round-trips.
    let back = cicada_report::RunReport::from_json(&report.to_json_pretty()).unwrap();
    assert_eq!(back.aggregated.requests, report.aggregated.requests);
}
