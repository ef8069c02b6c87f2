//! `cicada capacity` end to end against axum servers of known capacity: K requests at a time,
//! D ms each (a FIFO semaphore).
//!
//! The delays are long (200 ms) so that the scheduling noise of a busy shared machine (tens of
//! ms seen with 2 cores and a load average of 12) cannot move the knee out of the asserted range.
//!
//! Over users (closed model, no think time; K = 2, D = 200): N users each wait about
//! N / 2 × 200 ms (Little's law), so P95 < 1 s holds up to about 9 users (10 is the edge).
//!
//! Over the arrival rate (open model; K = 2, D = 200): the server completes at most
//! 2 / 200 ms = 10 requests/s. Below that a request takes about 200 ms; above it requests queue
//! until `--max-concurrency` (6) are in flight (600 ms each) and later arrivals are dropped,
//! which counts as errors: the knee is just under 10/s.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use support::{cicada, scenario, serve_app, text};
use tokio::sync::Semaphore;

const CAP: &str = "name = \"cap\"\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

async fn serve(concurrent: usize, delay_ms: u64) -> String {
    let permits = Arc::new(Semaphore::new(concurrent));
    let app = Router::new().route(
        "/x",
        get(move || {
            let permits = permits.clone();
            async move {
                let _p = permits.acquire().await.unwrap();
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                "ok"
            }
        }),
    );
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_finds_the_users_a_server_of_known_capacity_can_take() {
    let host = serve(2, 200).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), CAP);
    let json = dir.path().join("capacity.json");
    let o = cicada(&[
        "capacity",
        scenario.to_str().unwrap(),
        "-H",
        &host,
        "--slo",
        "p95<1s",
        "--slo",
        "error_rate<1%",
        "--start-users",
        "2",
        "--spawn-rate",
        "10",
        "--max-users",
        "64",
        "--step-time",
        "4s",
        "--warmup",
        "2s",
        "--max-steps",
        "10",
        "--json",
        json.to_str().unwrap(),
    ])
    .await;
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    // Shown with --nocapture: the steps, for the numbers quoted in docs/analysis.md.
    println!("{t}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let c = &r["analysis"]["capacity"];
    let max = c["max_passing_load"].as_f64().unwrap();
    assert!((5.0..=10.0).contains(&max), "max users {max}: {c}\n{t}");
    let min_fail = c["min_failing_load"].as_f64().unwrap();
    assert!(min_fail > max && min_fail <= 16.0, "{c}");
    let steps = c["steps"].as_array().unwrap();
    assert!(steps.len() >= 4, "{c}");
    // Users are added at 10/s and the ramp is not measured: a step that adds users discards
    // its ramp on top of the 2 s warm-up.
    let mut previous = 0.0;
    for s in steps {
        let load = s["load"].as_f64().unwrap();
        let discarded = s["warmup_discarded_s"].as_f64().unwrap();
        let ramp = (load - previous).max(0.0) / 10.0;
        assert!(discarded >= 2.0 + ramp * 0.9, "{s}");
        assert!(discarded <= 2.0 + ramp + 0.5, "{s}");
        previous = load;
    }
    assert!(t.contains("users added at 10/s"), "{t}");
    assert!(
        t.contains(&format!(
            "max users at P95 < 1000 ms and error rate < 1 %: {max}"
        )),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_over_the_arrival_rate_finds_the_servers_throughput_limit() {
    let host = serve(2, 200).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), CAP);
    let json = dir.path().join("capacity.json");
    let o = cicada(&[
        "capacity",
        scenario.to_str().unwrap(),
        "-H",
        &host,
        "--slo",
        "p95<500ms",
        "--slo",
        "error_rate<1%",
        "--rate-start",
        "2",
        "--max-rate",
        "100",
        "--max-concurrency",
        "6",
        "--step-time",
        "4s",
        "--warmup",
        "2s",
        "--max-steps",
        "12",
        "--json",
        json.to_str().unwrap(),
    ])
    .await;
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    // Shown with --nocapture: the steps, for the numbers quoted in docs/analysis.md.
    println!("{t}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let c = &r["analysis"]["capacity"];
    assert_eq!(c["load_unit"], "arrival_rate", "{c}");
    let max = c["max_passing_load"].as_f64().unwrap();
    let min_fail = c["min_failing_load"].as_f64().unwrap();
    // The knee is just under 10/s; the search brackets it within 5 %.
    assert!((6.0..=10.5).contains(&max), "max rate {max}: {c}\n{t}");
    assert!(min_fail > max && min_fail <= 16.0, "{c}\n{t}");
    assert!((min_fail - max) / min_fail <= 0.05 + 1e-9, "{c}");
    // Each passing step was served at its arrival rate (one request per iteration).
    for s in c["steps"].as_array().unwrap() {
        if s["passed"] == true {
            let (load, rps) = (
                s["load"].as_f64().unwrap(),
                s["throughput"].as_f64().unwrap(),
            );
            assert!((rps - load).abs() <= load * 0.2 + 1.0, "{s}");
        }
    }
    assert_eq!(r["run"]["plan"]["model"], "open", "{}", r["run"]["plan"]);
    assert!(
        t.contains(&format!(
            "max iterations/s at P95 < 500 ms and error rate < 1 %: {}",
            show(max)
        )),
        "{t}"
    );
}

fn show(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[tokio::test]
async fn capacity_refuses_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), CAP);
    let path = scenario.to_str().unwrap();
    // The host is never contacted: every case is refused before any traffic.
    let base = [
        "capacity",
        path,
        "-H",
        "http://127.0.0.1:9",
        "--slo",
        "p95<200ms",
    ];
    for (args, message) in [
        (vec!["--start-users", "10", "--rate-start", "5"], "not both"),
        (vec!["--spawn-rate", "5", "--max-rate", "50"], "not both"),
        (
            vec!["--max-users", "100", "--max-concurrency", "10"],
            "not both",
        ),
        (
            vec!["--start-users", "100", "--max-users", "50"],
            "--max-users (50) must be at least --start-users (100)",
        ),
        (
            vec!["--rate-start", "100", "--max-rate", "50"],
            "--max-rate (50) must be at least --rate-start (100)",
        ),
        (vec!["--rate-start=-5"], "expected a positive number"),
        (vec!["--max-rate", "0"], "expected a positive number"),
        (vec!["--spawn-rate=-1"], "expected a positive number"),
        (vec!["--start-users", "0"], "at least 1"),
        (vec!["--start-users=-3"], "at least 1"),
        (vec!["--max-concurrency", "0"], "at least 1"),
    ] {
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_cicada"))
            .args(base)
            .args(&args)
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("error:") && err.contains(message),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test]
async fn capacity_refuses_bad_slos_and_steps() {
    for args in [
        vec!["--slo", "p95 about 200ms"],
        vec!["--slo", "p95<200ms", "--step-time", "5s", "--warmup", "5s"],
    ] {
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_cicada"))
            .args(["capacity", "nowhere.toml"])
            .args(&args)
            .output()
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error:"),
            "{args:?}"
        );
    }
}
