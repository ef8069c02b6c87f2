//! Waits (Locust's four), `on_stop`, and task selection by tags.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use cicada::launch::{LaunchOptions, prepare};
use cicada::scenario::{CompileOptions, LoadSpec, parse_scenario};

use crate::util::{run, run_toml, serve};

type Counts = Arc<Mutex<HashMap<String, u64>>>;

async fn server(delay_ms: u64) -> (String, Counts) {
    let counts: Counts = Arc::default();
    let app = Router::new()
        .route(
            "/{name}",
            get(
                move |State(c): State<Counts>, Path(name): Path<String>| async move {
                    *c.lock().unwrap().entry(name).or_insert(0) += 1;
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&counts));
    (serve(app).await, counts)
}

fn one_user(ms: u64) -> LoadSpec {
    LoadSpec {
        users: Some(1),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_millis(ms)),
        ..LoadSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_pace_iterations() {
    // A 50 ms task: constant 100 ms wait → ~150 ms per iteration; pacing and throughput
    // 200 ms → one start every 200 ms whatever the task takes.
    for (wait, low, high) in [
        ("{ constant = \"100ms\" }", 5, 8),
        ("{ pacing = \"200ms\" }", 5, 6),
        ("{ throughput = 5.0 }", 5, 6),
        ("{ between = [\"90ms\", \"110ms\"] }", 5, 8),
    ] {
        let (host, counts) = server(50).await;
        let toml =
            format!("[[users]]\nwait = {wait}\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/t\"\n");
        let report = run_toml(&toml, &host, one_user(1050)).await;
        let n = counts.lock().unwrap().get("t").copied().unwrap_or(0);
        assert!((low..=high).contains(&n), "{wait}: {n} iterations");
        assert_eq!(report.aggregated.requests, n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stop_runs_when_users_stop() {
    let (host, counts) = server(0).await;
    let toml = r#"
[[users]]
wait = { constant = "20ms" }
[[users.on_start]]
method = "GET"
path = "/login"
[[users.on_stop]]
method = "GET"
path = "/logout"
[[users.tasks]]
method = "GET"
path = "/work"
"#;
    let load = LoadSpec {
        users: Some(4),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_millis(600)),
        ..LoadSpec::default()
    };
    run_toml(toml, &host, load).await;
    let counts = counts.lock().unwrap().clone();
    assert_eq!(counts.get("login"), Some(&4));
    assert_eq!(counts.get("logout"), Some(&4));
    assert!(counts["work"] >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_select_tasks() {
    let toml = r#"
[[users]]
[[users.tasks]]
tags = ["read"]
method = "GET"
path = "/read"
[[users.tasks]]
tags = ["write", "slow"]
method = "GET"
path = "/write"
[[users.tasks]]
method = "GET"
path = "/untagged"
"#;
    for (tags, exclude, expect) in [
        (vec!["read"], vec![], vec!["read"]),
        (vec![], vec!["write"], vec!["read", "untagged"]),
        (vec!["read", "slow"], vec!["read"], vec!["write"]),
    ] {
        let (host, counts) = server(0).await;
        let options = LaunchOptions {
            scenario: Some(parse_scenario(toml, std::path::Path::new("tags.toml")).unwrap()),
            host: Some(host),
            load: LoadSpec {
                users: Some(2),
                spawn_rate: Some(1000.0),
                iterations: Some(30),
                ..LoadSpec::default()
            },
            compile: CompileOptions {
                tags: tags.iter().map(|s| s.to_string()).collect(),
                exclude_tags: exclude.iter().map(|s| s.to_string()).collect(),
                thresholds: Vec::new(),
            },
            ..LaunchOptions::default()
        };
        let report = run(prepare(&options).unwrap()).await;
        assert_eq!(report.run.tags, tags);
        let mut hit: Vec<String> = counts.lock().unwrap().keys().cloned().collect();
        hit.sort();
        assert_eq!(hit, expect, "tags {tags:?} exclude {exclude:?}");
    }
    // Tags that leave nothing to run are refused before any traffic.
    let options = LaunchOptions {
        scenario: Some(parse_scenario(toml, std::path::Path::new("tags.toml")).unwrap()),
        host: Some("http://127.0.0.1:9".into()),
        load: LoadSpec {
            users: Some(1),
            ..LoadSpec::default()
        },
        compile: CompileOptions {
            tags: vec!["nope".into()],
            ..CompileOptions::default()
        },
        ..LaunchOptions::default()
    };
    let err = prepare(&options).unwrap_err();
    assert!(err.to_string().contains("no task is left"), "{err}");
}
