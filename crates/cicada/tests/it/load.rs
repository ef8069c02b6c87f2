//! Load shape: weights, spawn rate, stages, exact request counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use cicada::scenario::{LoadSpec, StageSpec};

use crate::util::{row, run_toml, serve};

type Counts = Arc<Mutex<HashMap<String, u64>>>;

async fn counting_server() -> (String, Counts) {
    let counts: Counts = Arc::default();
    let app = Router::new()
        .route(
            "/{name}",
            get(
                |State(c): State<Counts>, Path(name): Path<String>| async move {
                    *c.lock().unwrap().entry(name).or_insert(0) += 1;
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&counts));
    (serve(app).await, counts)
}

const WEIGHTED: &str = r#"
[[users]]
name = "a"
weight = 3
[[users.tasks]]
weight = 5
method = "GET"
path = "/five"
[[users.tasks]]
weight = 3
method = "GET"
path = "/three"
[[users.tasks]]
weight = 1
method = "GET"
path = "/one"

[[users]]
name = "b"
weight = 1
[[users.tasks]]
method = "GET"
path = "/b"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_converge_and_counts_are_exact() {
    let (host, counts) = counting_server().await;
    let load = LoadSpec {
        users: Some(8),
        spawn_rate: Some(1000.0),
        iterations: Some(3600),
        run_time: Some(Duration::from_secs(30)),
        ..LoadSpec::default()
    };
    let report = run_toml(WEIGHTED, &host, load).await;
    let counts = counts.lock().unwrap().clone();
    let server_total: u64 = counts.values().sum();
    // Exactly the bound, and exactly what the server counted.
    assert_eq!(report.aggregated.requests, 3600);
    assert_eq!(server_total, 3600);
    for (name, n) in &counts {
        assert_eq!(
            row(&report, "GET", &format!("/{name}")).requests,
            *n,
            "{name}"
        );
    }
    assert_eq!(report.aggregated.failures, 0);
    // User types split 3:1 exactly: 6 of type a, 2 of type b.
    let peaks: Vec<(String, u64)> = report
        .run
        .user_types
        .iter()
        .map(|u| (u.name.clone(), u.peak_users))
        .collect();
    assert_eq!(peaks, vec![("a".to_string(), 6), ("b".to_string(), 2)]);
    // Within type a, tasks converge to 5:3:1.
    let a_total = (counts["five"] + counts["three"] + counts["one"]) as f64;
    for (name, share) in [
        ("five", 5.0 / 9.0),
        ("three", 3.0 / 9.0),
        ("one", 1.0 / 9.0),
    ] {
        let got = counts[name] as f64 / a_total;
        assert!((got - share).abs() < 0.04, "{name}: {got:.3} vs {share:.3}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_bounded_run_counts_match_the_server() {
    let (host, counts) = counting_server().await;
    let toml = "[[users]]\nwait = { constant = \"5ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";
    let load = LoadSpec {
        users: Some(5),
        spawn_rate: Some(100.0),
        run_time: Some(Duration::from_millis(1500)),
        ..LoadSpec::default()
    };
    let report = run_toml(toml, &host, load).await;
    let served = counts.lock().unwrap().get("x").copied().unwrap_or(0);
    assert!(
        report.aggregated.requests > 100,
        "{}",
        report.aggregated.requests
    );
    assert_eq!(report.aggregated.requests, served);
    assert!(!report.run.interrupted);
    assert!(
        (1.4..3.0).contains(&report.run.duration_s),
        "{}",
        report.run.duration_s
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_follow_spawn_rate() {
    let (host, _) = counting_server().await;
    let toml = "[[users]]\nwait = { constant = \"50ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";
    let load = LoadSpec {
        users: Some(20),
        spawn_rate: Some(10.0),
        run_time: Some(Duration::from_millis(3200)),
        ..LoadSpec::default()
    };
    let report = run_toml(toml, &host, load).await;
    let at = |s: u64| {
        report
            .timeline
            .iter()
            .find(|i| i.elapsed_s == s)
            .map(|i| i.users)
            .unwrap()
    };
    // 10 users/s: ~10 after 1 s, 20 (the cap) from 2 s on.
    assert!((9..=11).contains(&at(1)), "users at 1s: {}", at(1));
    assert!((19..=20).contains(&at(2)), "users at 2s: {}", at(2));
    assert_eq!(at(3), 20);
    assert_eq!(report.run.plan.spawn_rate, Some(10.0));
    assert_eq!(report.run.user_types[0].peak_users, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_follow_stages() {
    let (host, _) = counting_server().await;
    let toml = "[[users]]\nwait = { constant = \"50ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";
    let stage = |ms: u64, users: f64| StageSpec {
        duration: Duration::from_millis(ms),
        target: users,
    };
    let load = LoadSpec {
        stages: vec![stage(1000, 10.0), stage(1000, 10.0), stage(1000, 2.0)],
        ..LoadSpec::default()
    };
    let report = run_toml(toml, &host, load).await;
    let at = |s: u64| {
        report
            .timeline
            .iter()
            .find(|i| i.elapsed_s == s)
            .map(|i| i.users)
            .unwrap()
    };
    assert!((9..=10).contains(&at(1)), "users at 1s: {}", at(1));
    // The 2 s sample is taken at the start of the ramp down (a late tick may see one user fewer).
    assert!((8..=10).contains(&at(2)), "users at 2s: {}", at(2));
    // Ramping down to 2 over the last second: stopped users leave after their request.
    let end = report.timeline.last().unwrap().users;
    assert!(end <= 4, "users at the end: {end}");
    assert!(
        (2.9..4.5).contains(&report.run.duration_s),
        "{}",
        report.run.duration_s
    );
}
