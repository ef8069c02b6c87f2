//! What users do: captures, bearer headers, cookies, feeders, generators, checks, and the
//! control handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use cicada::runner::Runner;
use cicada::scenario::LoadSpec;
use cicada_report::model::FailureKind;

use crate::util::{config, row, run, run_toml, serve};

fn bounded(users: u64, iterations: u64) -> LoadSpec {
    LoadSpec {
        users: Some(users),
        spawn_rate: Some(1000.0),
        iterations: Some(iterations),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    }
}

#[derive(Default)]
struct AuthState {
    logins: AtomicU64,
    authorised: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_capture_becomes_bearer_header() {
    let state = Arc::new(AuthState::default());
    let app = Router::new()
        .route(
            "/login",
            post(|State(s): State<Arc<AuthState>>, body: String| async move {
                assert!(body.contains("\"username\":\"alice\""), "{body}");
                let n = s.logins.fetch_add(1, Ordering::Relaxed);
                axum::Json(serde_json::json!({ "access_token": format!("tok-{n}") }))
            }),
        )
        .route(
            "/me",
            get(
                |State(s): State<Arc<AuthState>>, headers: HeaderMap| async move {
                    let ok = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("Bearer tok-"));
                    if ok {
                        s.authorised.fetch_add(1, Ordering::Relaxed);
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                },
            ),
        )
        .with_state(Arc::clone(&state));
    let host = serve(app).await;
    let toml = r#"
[variables]
user = "alice"

[[users]]
headers = { Authorization = "Bearer {{token}}" }
wait = { constant = "50ms" }

[[users.on_start]]
method = "POST"
path = "/login"
json = { username = "{{user}}", password = "secret" }
capture = { token = { json = "/access_token" } }

[[users.tasks]]
method = "GET"
path = "/me"
"#;
    // The 30 iterations are shared by the 3 users; the wait keeps the first user from using them
    // all up before the others have logged in on a busy machine.
    let report = run_toml(toml, &host, bounded(3, 30)).await;
    assert_eq!(state.logins.load(Ordering::Relaxed), 3);
    assert_eq!(state.authorised.load(Ordering::Relaxed), 30);
    assert_eq!(row(&report, "GET", "/me").failures, 0);
    assert_eq!(row(&report, "POST", "/login").requests, 3);
}

/// A user whose login failed sends no task request without its token: it retries `on_start`
/// (after 1 s) and only then runs its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_on_start_is_retried_before_any_task() {
    let state = Arc::new(AuthState::default());
    let unauthorised = Arc::new(AtomicU64::new(0));
    let seen_unauthorised = Arc::clone(&unauthorised);
    let app = Router::new()
        .route(
            "/login",
            post(|State(s): State<Arc<AuthState>>| async move {
                // The first two logins fail (one per user), later ones succeed.
                let n = s.logins.fetch_add(1, Ordering::Relaxed);
                if n < 2 {
                    return Err(StatusCode::SERVICE_UNAVAILABLE);
                }
                Ok(axum::Json(
                    serde_json::json!({ "access_token": format!("tok-{n}") }),
                ))
            }),
        )
        .route(
            "/me",
            get(move |headers: HeaderMap| async move {
                let ok = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("Bearer tok-"));
                if ok {
                    StatusCode::OK
                } else {
                    seen_unauthorised.fetch_add(1, Ordering::Relaxed);
                    StatusCode::UNAUTHORIZED
                }
            }),
        )
        .with_state(Arc::clone(&state));
    let host = serve(app).await;
    let toml = r#"
[[users]]
headers = { Authorization = "Bearer {{token}}" }

[[users.on_start]]
method = "POST"
path = "/login"
capture = { token = { json = "/access_token" } }

[[users.tasks]]
method = "GET"
path = "/me"
"#;
    let report = run_toml(toml, &host, bounded(2, 10)).await;
    assert_eq!(unauthorised.load(Ordering::Relaxed), 0);
    assert_eq!(row(&report, "GET", "/me").requests, 10);
    assert_eq!(row(&report, "GET", "/me").failures, 0);
    let login = row(&report, "POST", "/login");
    assert_eq!((login.requests, login.failures), (4, 2));
    assert_eq!(state.logins.load(Ordering::Relaxed), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_kept_per_user() {
    let app = Router::new()
        .route(
            "/login",
            post(|| async { ([("set-cookie", "session=abc; Path=/; HttpOnly")], "ok") }),
        )
        .route(
            "/private",
            get(|headers: HeaderMap| async move {
                match headers.get("cookie").and_then(|v| v.to_str().ok()) {
                    Some("session=abc") => StatusCode::OK,
                    _ => StatusCode::FORBIDDEN,
                }
            }),
        );
    let host = serve(app).await;
    let toml = r#"
[[users]]
[[users.on_start]]
method = "POST"
path = "/login"
[[users.tasks]]
method = "GET"
path = "/private"
"#;
    let report = run_toml(toml, &host, bounded(2, 10)).await;
    assert_eq!(row(&report, "GET", "/private").requests, 10);
    assert_eq!(row(&report, "GET", "/private").failures, 0);
}

type Seen = Arc<Mutex<HashMap<String, u64>>>;

async fn id_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/agents/{id}/executions",
            get(|State(s): State<Seen>, Path(id): Path<String>| async move {
                *s.lock().unwrap().entry(id).or_insert(0) += 1;
                "[]"
            }),
        )
        .with_state(Arc::clone(&seen));
    (serve(app).await, seen)
}

fn feeder_scenario(mode: &str) -> String {
    format!(
        r#"
[feeders.agents]
file = "agents.csv"
mode = "{mode}"

# A short think time, so that no user can run every iteration before the others start.
[[users]]
wait = {{ constant = "10ms" }}
[[users.tasks]]
method = "GET"
path = "/agents/{{{{agent_id}}}}/executions"
"#
    )
}

fn agents_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agents.csv"),
        "agent_id,name\na1,one\na2,two\na3,three\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_feeder_is_round_robin_and_stats_use_the_template() {
    let dir = agents_dir();
    let (host, seen) = id_server().await;
    let report = run(config(
        &feeder_scenario("shared"),
        dir.path(),
        &host,
        bounded(2, 30),
    ))
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        HashMap::from([("a1".into(), 10), ("a2".into(), 10), ("a3".into(), 10)])
    );
    // One stats row for every id: named by the path template.
    assert_eq!(report.requests.len(), 1);
    assert_eq!(report.requests[0].name, "/agents/{{agent_id}}/executions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_feeder_gives_each_user_its_row() {
    let dir = agents_dir();
    let (host, seen) = id_server().await;
    run(config(
        &feeder_scenario("per_user"),
        dir.path(),
        &host,
        bounded(2, 20),
    ))
    .await;
    let seen = seen.lock().unwrap().clone();
    // Two users: rows a1 and a2 only.
    assert_eq!(
        seen.keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        ["a1".to_string(), "a2".to_string()].into()
    );
    assert_eq!(seen.values().sum::<u64>(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_feeder_and_generators() {
    let dir = agents_dir();
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/agents/{id}/run",
            post(
                |State(s): State<Seen>, Path(id): Path<String>, body: String| async move {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let rid = v["request_id"].as_str().unwrap();
                    assert_eq!(uuid::Uuid::parse_str(rid).unwrap().get_version_num(), 4);
                    let n = v["n"].as_str().unwrap().parse::<i64>().unwrap();
                    assert!((1..=6).contains(&n));
                    assert!(["x", "y"].contains(&v["pick"].as_str().unwrap()));
                    *s.lock()
                        .unwrap()
                        .entry(format!("{id}:{}", v["seq"].as_str().unwrap()))
                        .or_insert(0) += 1;
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let host = serve(app).await;
    let toml = r#"
[generators]
request_id = { type = "uuid" }
n = { type = "random_int", min = 1, max = 6 }
pick = { type = "random_choice", values = ["x", "y"] }
seq = { type = "sequence", start = 100 }

[feeders.agents]
file = "agents.csv"
mode = "random"

[[users]]
[[users.tasks]]
method = "POST"
path = "/agents/{{agent_id}}/run"
json = { request_id = "{{request_id}}", n = "{{n}}", pick = "{{pick}}", seq = "{{seq}}" }
"#;
    let report = run(config(toml, dir.path(), &host, bounded(2, 40))).await;
    assert_eq!(report.aggregated.failures, 0);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 40, "every sequence value once");
    let seqs: std::collections::BTreeSet<i64> = seen
        .keys()
        .map(|k| k.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (100..140).collect());
    assert!(
        seen.keys()
            .all(|k| ["a1", "a2", "a3"].contains(&k.split(':').next().unwrap()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_fail_a_200_with_the_wrong_body() {
    let app = Router::new()
        .route(
            "/status",
            get(|| async { axum::Json(serde_json::json!({ "status": "degraded" })) }),
        )
        .route("/text", get(|| async { "all good" }));
    let host = serve(app).await;
    let toml = r#"
[[users]]
[[users.tasks]]
method = "GET"
path = "/status"
checks = [{ json = "/status", equals = "ok" }]

[[users.tasks]]
method = "GET"
path = "/text"
checks = [{ body_contains = "good" }, { status = 200 }]

[[users.tasks]]
name = "missing field"
method = "GET"
path = "/status"
checks = [{ json = "/version" }]

[[users.tasks]]
name = "wrong status expected"
method = "GET"
path = "/text"
expect_status = 201
"#;
    let report = run_toml(toml, &host, bounded(1, 40)).await;
    let status = row(&report, "GET", "/status");
    assert!(status.requests > 0);
    assert_eq!(status.failures, status.requests);
    assert_eq!(row(&report, "GET", "/text").failures, 0);
    let missing = row(&report, "GET", "missing field");
    assert_eq!(missing.failures, missing.requests);
    let expect = row(&report, "GET", "wrong status expected");
    assert_eq!(expect.failures, expect.requests);
    let kinds: Vec<(FailureKind, &str)> = report
        .failures
        .iter()
        .map(|f| (f.kind, f.message.as_str()))
        .collect();
    assert!(
        kinds.contains(&(FailureKind::Check, "check failed: JSON /status == \"ok\"")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(FailureKind::Check, "check failed: JSON /version exists")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(FailureKind::Status, "HTTP 200")),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_stops_early_and_changes_users() {
    let app = Router::new().route("/x", get(|| async { "ok" }));
    let host = serve(app).await;
    let toml = "[[users]]\nwait = { constant = \"20ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";
    let load = LoadSpec {
        users: Some(2),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_secs(60)),
        ..LoadSpec::default()
    };
    let handle = Runner::start(config(toml, std::path::Path::new("."), &host, load))
        .await
        .unwrap();
    let control = handle.control();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(control.users(), 2);
    assert!(control.set_users(6));
    assert!(!control.set_rate(5.0), "closed model has no rate");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(control.users(), 6);
    let snap = control.snapshot();
    assert!(!snap.run.interrupted);
    handle.stop();
    let report = handle.wait().await.unwrap();
    assert!(report.run.interrupted);
    assert!(report.run.duration_s < 5.0);
    assert!(report.aggregated.requests > 0);
    assert_eq!(report.run.user_types[0].peak_users, 6);
    assert!(
        report
            .verdict
            .warnings
            .iter()
            .any(|w| w.contains("interrupted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_for_requests_in_flight_and_force_stop_does_not() {
    // A server that never answers /hang.
    let app = Router::new().route("/x", get(|| async { "ok" })).route(
        "/hang",
        get(|| async { std::future::pending::<&str>().await }),
    );
    let host = serve(app).await;
    let toml = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/hang\"\n";
    let load = LoadSpec {
        users: Some(3),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_secs(60)),
        ..LoadSpec::default()
    };
    let mut cfg = config(toml, std::path::Path::new("."), &host, load);
    cfg.stop_timeout = Duration::from_secs(30);
    let handle = Runner::start(cfg).await.unwrap();
    let control = handle.control();
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.stop();
    let waiting = tokio::spawn(handle.wait());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "graceful stop waits for requests in flight"
    );
    let forced = std::time::Instant::now();
    control.force_stop();
    let report = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(forced.elapsed() < Duration::from_secs(2));
    assert!(report.run.interrupted);
    assert_eq!(
        report.aggregated.requests, 0,
        "cancelled requests are not counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_time_out_and_are_counted() {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let host = serve(app).await;
    let toml = "[defaults]\nrequest_timeout = \"300ms\"\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/slow\"\n";
    let started = std::time::Instant::now();
    let report = run_toml(toml, &host, bounded(2, 4)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let slow = row(&report, "GET", "/slow");
    assert_eq!((slow.requests, slow.failures), (4, 4));
    assert_eq!(report.failures[0].kind, FailureKind::Timeout);
    assert_eq!(report.failures[0].message, "request timed out after 300ms");
    assert!(
        slow.min_ms >= 299.0 && slow.max_ms < 1000.0,
        "{} {}",
        slow.min_ms,
        slow.max_ms
    );
}

/// Every login refused: the report counts the users that never started their tasks, names
/// the request that failed with the first bytes of its body, and the task row measured
/// nothing (no latency figures in the JSON, not 0 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_whose_on_start_always_fails_are_counted_with_the_failing_response() {
    let app = Router::new()
        .route(
            "/login",
            post(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    [("content-type", "application/json")],
                    // A long body: the excerpt keeps its first 200 bytes.
                    format!(
                        "{{\"error\":\"invalid credentials\",\"pad\":\"{}\"}}",
                        "x".repeat(400)
                    ),
                )
            }),
        )
        .route("/me", get(|| async { StatusCode::OK }));
    let host = serve(app).await;
    let toml = r#"
[[users]]
headers = { Authorization = "Bearer {{token}}" }

[[users.on_start]]
method = "POST"
path = "/login"
capture = { token = { json = "/access_token" } }

[[users.tasks]]
method = "GET"
path = "/me"
"#;
    let load = LoadSpec {
        users: Some(3),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_millis(1500)),
        ..LoadSpec::default()
    };
    let report = run_toml(toml, &host, load).await;
    let users = report.users.as_ref().expect("users recorded");
    assert_eq!((users.spawned, users.never_started), (3, 3));
    let failed = users.failed_request.as_ref().expect("the failing request");
    assert_eq!(
        (failed.method.as_str(), failed.name.as_str()),
        ("POST", "/login")
    );
    assert_eq!(failed.message, "HTTP 401");
    let excerpt = failed.body_excerpt.as_deref().expect("excerpt");
    assert_eq!(excerpt.len(), 200);
    assert!(
        excerpt.starts_with("{\"error\":\"invalid credentials\""),
        "{excerpt}"
    );
    // Each failure group of the report carries it too.
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].body_excerpt.as_deref(), Some(excerpt));
    assert!(
        report.verdict.reason.starts_with(
            "3 of 3 users never started their tasks: on_start failed at POST /login with \
             HTTP 401 {\"error\":\"invalid credentials\""
        ),
        "{}",
        report.verdict.reason
    );
    assert_eq!(report.verdict.exit_code, Some(1));
    let me = row(&report, "GET", "/me");
    assert_eq!(me.requests, 0);
    assert!(!me.measured());
    let json: serde_json::Value = serde_json::from_str(&report.to_json_pretty()).unwrap();
    let me_json = json["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "/me")
        .unwrap();
    for field in ["min_ms", "max_ms", "mean_ms", "percentiles"] {
        assert!(me_json.get(field).is_none(), "{field} in {me_json}");
    }
    // The login row measured its (failed) requests.
    assert!(row(&report, "POST", "/login").measured());
}

/// Users that logged in, even after a retry, are started; an open-model run counts the users
/// of its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_users_are_not_counted_as_never_started() {
    let app = Router::new()
        .route("/login", post(|| async { "{}" }))
        .route("/me", get(|| async { StatusCode::OK }));
    let host = serve(app).await;
    let toml = r#"
[[users]]
[[users.on_start]]
method = "POST"
path = "/login"
[[users.tasks]]
method = "GET"
path = "/me"
"#;
    // Enough iterations that the second user (spawned 1 ms after the first) is running before
    // the first could do them all on its own.
    let report = run_toml(toml, &host, bounded(2, 400)).await;
    let users = report.users.as_ref().unwrap();
    assert_eq!((users.spawned, users.never_started), (2, 0));
    assert!(users.failed_request.is_none());
    assert!(users.headline().is_none());
    assert!(!report.verdict.reason.contains("never started"));
    let open = LoadSpec {
        rate: Some(50.0),
        iterations: Some(20),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    };
    let report = run_toml(toml, &host, open).await;
    let users = report.users.as_ref().unwrap();
    assert!(users.spawned >= 1, "{users:?}");
    assert_eq!(users.never_started, 0);
}
