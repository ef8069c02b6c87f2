//! Flow steps against a real server: `until` polls until a job completes (or times out as
//! configured), `foreach` sends one request per element, `if`/`loop`/`wait` do what they say,
//! `group` rows time whole sequences and stay out of the aggregated row, and bad conditions are
//! errors with file:line:column before any request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use cicada::launch::{LaunchOptions, SetupError, prepare};
use cicada::scenario::{LoadSpec, ScenarioError, parse_scenario};
use serde_json::json;

use crate::util::{row, run_toml, serve};

/// A job service: a job completes `JOB_MS` after it was created; every call is counted.
#[derive(Default)]
struct Jobs {
    created: Mutex<Vec<Instant>>,
    /// Per job: how long it took to complete, as the server saw it (first COMPLETED answer).
    completed_ms: Mutex<HashMap<usize, f64>>,
    polls: AtomicU64,
    never: AtomicU64,
    after: AtomicU64,
    items: Mutex<HashMap<String, u64>>,
    yes: AtomicU64,
    no: AtomicU64,
}

const JOB_MS: u64 = 300;

fn app(state: Arc<Jobs>) -> Router {
    Router::new()
        .route(
            "/jobs",
            post(|State(s): State<Arc<Jobs>>| async move {
                let mut c = s.created.lock().unwrap();
                c.push(Instant::now());
                axum::Json(json!({ "id": c.len() - 1, "status": "PENDING" }))
            }),
        )
        .route(
            "/jobs/{id}",
            get(
                |State(s): State<Arc<Jobs>>, UrlPath(id): UrlPath<usize>| async move {
                    s.polls.fetch_add(1, Ordering::Relaxed);
                    let created = s.created.lock().unwrap()[id];
                    let done = created.elapsed() >= Duration::from_millis(JOB_MS);
                    if done {
                        s.completed_ms
                            .lock()
                            .unwrap()
                            .entry(id)
                            .or_insert(JOB_MS as f64);
                    }
                    axum::Json(json!({
                        "id": id,
                        "status": if done { "COMPLETED" } else { "RUNNING" },
                    }))
                },
            ),
        )
        .route(
            "/never",
            get(|State(s): State<Arc<Jobs>>| async move {
                s.never.fetch_add(1, Ordering::Relaxed);
                axum::Json(json!({ "status": "PENDING" }))
            }),
        )
        .route(
            "/after",
            get(|State(s): State<Arc<Jobs>>| async move {
                s.after.fetch_add(1, Ordering::Relaxed);
                "ok"
            }),
        )
        .route(
            "/list",
            get(|| async {
                axum::Json(
                    json!({ "items": [{ "id": "a" }, { "id": "b" }, { "id": "c" }], "n": 3 }),
                )
            }),
        )
        .route(
            "/item/{id}",
            get(
                |State(s): State<Arc<Jobs>>, UrlPath(id): UrlPath<String>| async move {
                    *s.items.lock().unwrap().entry(id).or_default() += 1;
                    "ok"
                },
            ),
        )
        .route(
            "/yes",
            get(|State(s): State<Arc<Jobs>>| async move {
                s.yes.fetch_add(1, Ordering::Relaxed);
                "ok"
            }),
        )
        .route(
            "/no",
            get(|State(s): State<Arc<Jobs>>| async move {
                s.no.fetch_add(1, Ordering::Relaxed);
                "ok"
            }),
        )
        .with_state(state)
}

fn once() -> LoadSpec {
    LoadSpec {
        users: Some(1),
        spawn_rate: Some(100.0),
        iterations: Some(1),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_polls_until_the_job_completes_and_the_group_times_the_journey() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let toml = r#"
thresholds = ["GROUP job: p95<5s", "p95<1s"]
[[users]]
[[users.tasks]]
group = "job"
[[users.tasks.steps]]
method = "POST"
path = "/jobs"
capture = { job = { json = "/id" } }
[[users.tasks.steps]]
until = 'json("/status") in ["COMPLETED", "FAILED"]'
name = "job done"
interval = "50ms"
timeout = "5s"
[[users.tasks.steps.steps]]
method = "GET"
path = "/jobs/{{job}}"
expect_status = 200
"#;
    let users = LoadSpec {
        users: Some(2),
        iterations: Some(4),
        ..once()
    };
    let report = run_toml(toml, &host, users).await;
    let polls = state.polls.load(Ordering::Relaxed);
    let poll_row = row(&report, "GET", "/jobs/{{job}}");
    assert_eq!(poll_row.requests, polls, "every poll has its own row entry");
    assert_eq!(poll_row.failures, 0);
    // 300 ms at a 50 ms interval: at least 5 polls per job, and the last one saw COMPLETED.
    assert!(polls >= 4 * 5, "{polls} polls for 4 jobs");
    assert_eq!(state.completed_ms.lock().unwrap().len(), 4);
    let until = row(&report, "UNTIL", "job done");
    assert_eq!((until.requests, until.failures), (4, 0));
    let group = row(&report, "GROUP", "job");
    assert_eq!((group.requests, group.failures), (4, 0));
    // The journey took the job's 300 ms, give or take one poll interval (and the request times).
    assert!(
        group.min_ms >= JOB_MS as f64 && group.max_ms < JOB_MS as f64 + 50.0 + 250.0,
        "group {:.1}-{:.1} ms",
        group.min_ms,
        group.max_ms
    );
    // Flow rows are not requests: the aggregated row counts only the HTTP requests.
    assert_eq!(report.aggregated.requests, 4 + polls);
    assert!(report.aggregated.max_ms < JOB_MS as f64);
    assert!(report.verdict.passed, "{:?}", report.verdict);
    let group_threshold = &report.thresholds[0];
    assert_eq!(group_threshold.scope.as_deref(), Some("GROUP job"));
    assert!(group_threshold.observed.unwrap() >= JOB_MS as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_that_times_out_fails_or_continues_as_configured() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let scenario = |on_timeout: &str| {
        format!(
            r#"
[[users]]
[[users.tasks]]
name = "wait for it"
[[users.tasks.steps]]
until = 'json("/status") == "COMPLETED"'
name = "never"
interval = "20ms"
max_tries = 3
on_timeout = "{on_timeout}"
[[users.tasks.steps.steps]]
method = "GET"
path = "/never"
[[users.tasks.steps]]
method = "GET"
path = "/after"
"#
        )
    };
    let report = run_toml(&scenario("fail"), &host, once()).await;
    assert_eq!(state.never.load(Ordering::Relaxed), 3, "three tries");
    assert_eq!(state.after.load(Ordering::Relaxed), 0, "the task ended");
    let until = row(&report, "UNTIL", "never");
    assert_eq!((until.requests, until.failures), (1, 1));
    let failure = report
        .failures
        .iter()
        .find(|f| f.method == "UNTIL")
        .expect("the timeout is a failure");
    assert!(
        failure.message.starts_with(
            "until timed out: (json(\"/status\") == \"COMPLETED\") still false after 3 tries"
        ),
        "{}",
        failure.message
    );
    assert_eq!(row(&report, "GET", "/never").failures, 0);

    let report = run_toml(&scenario("continue"), &host, once()).await;
    assert_eq!(state.never.load(Ordering::Relaxed), 6);
    assert_eq!(state.after.load(Ordering::Relaxed), 1, "went on");
    let until = row(&report, "UNTIL", "never");
    assert_eq!((until.requests, until.failures), (1, 0));
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // A timeout bounds the tries as well: 5 tries of 20 ms fit in 100 ms, not 1000.
    let timed = scenario("fail").replace("max_tries = 3", "timeout = \"100ms\"");
    let before = state.never.load(Ordering::Relaxed);
    let report = run_toml(&timed, &host, once()).await;
    let tries = state.never.load(Ordering::Relaxed) - before;
    assert!((2..=6).contains(&tries), "{tries} tries in 100 ms");
    assert_eq!(row(&report, "UNTIL", "never").failures, 1);
    let failure = report
        .failures
        .iter()
        .find(|f| f.method == "UNTIL")
        .unwrap();
    assert!(
        failure
            .message
            .ends_with("still false at its 100ms timeout"),
        "the limit as configured, not a count that varies with timing: {}",
        failure.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreach_sends_one_request_per_element() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let toml = r#"
[[users]]
[[users.tasks]]
name = "walk"
[[users.tasks.steps]]
method = "GET"
path = "/list"
[[users.tasks.steps]]
foreach = "/items"
select = "/id"
as = "item"
[[users.tasks.steps.steps]]
method = "GET"
path = "/item/{{item}}"
"#;
    let report = run_toml(toml, &host, once()).await;
    let items = state.items.lock().unwrap().clone();
    assert_eq!(
        items,
        HashMap::from([("a".into(), 1), ("b".into(), 1), ("c".into(), 1)])
    );
    assert_eq!(row(&report, "GET", "/item/{{item}}").requests, 3);
    let f = row(&report, "FOREACH", "foreach /items");
    assert_eq!((f.requests, f.failures), (1, 0));

    // Not an array: the foreach fails with the reason, and sends nothing.
    let bad = toml.replace("foreach = \"/items\"", "foreach = \"/n\"");
    let report = run_toml(&bad, &host, once()).await;
    assert_eq!(state.items.lock().unwrap().values().sum::<u64>(), 3);
    let failure = report
        .failures
        .iter()
        .find(|f| f.method == "FOREACH")
        .unwrap();
    assert_eq!(
        failure.message,
        "foreach: /n in the last response is not an array (found a number)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_loop_and_wait_steps() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let toml = r#"
[[users]]
[[users.tasks]]
group = "branches"
[[users.tasks.steps]]
loop = 4
index = "i"
[[users.tasks.steps.steps]]
method = "GET"
path = "/list"
[[users.tasks.steps.steps]]
if = 'json("/n") == 3 and i < 3'
[[users.tasks.steps.steps.steps]]
method = "GET"
path = "/yes"
[[users.tasks.steps.steps.else]]
method = "GET"
path = "/no"
[[users.tasks.steps]]
wait = "150ms"
"#;
    let report = run_toml(toml, &host, once()).await;
    assert_eq!(state.yes.load(Ordering::Relaxed), 3, "i = 0, 1, 2");
    assert_eq!(state.no.load(Ordering::Relaxed), 1, "i = 3");
    assert_eq!(row(&report, "GET", "/list").requests, 4);
    let group = row(&report, "GROUP", "branches");
    assert!(
        group.min_ms >= 150.0,
        "the wait step is inside the group: {}",
        group.min_ms
    );
}

fn check_err(toml: &str) -> ScenarioError {
    let scenario = match parse_scenario(toml, Path::new("flow.toml")) {
        Err(e) => return e,
        Ok(s) => s,
    };
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some("http://127.0.0.1:9".into()),
        load: once(),
        ..LaunchOptions::default()
    };
    match prepare(&options) {
        Err(SetupError::Scenario(e)) => e,
        other => panic!("expected a scenario error, got {other:?}"),
    }
}

#[test]
fn bad_conditions_are_errors_with_file_line_and_column() {
    let head = "[[users]]\n[[users.tasks]]\nname = \"t\"\n[[users.tasks.steps]]\n";
    let step = "[[users.tasks.steps.steps]]\nmethod = \"GET\"\npath = \"/x\"\n";
    for (condition, column, part) in [
        // until = '...' puts the text at column 10.
        ("status = 200", 17, "'=' is not an operator"),
        ("json(\"x\") == 1", 15, "must start with '/'"),
        ("status == 200 and nope", 28, "unknown name \"nope\""),
        ("stats(\"/a\")", 10, "unknown function"),
        ("status ==", 19, "found the end of the condition"),
    ] {
        let toml = format!("{head}until = '{condition}'\n{step}");
        let e = check_err(&toml);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("flow.toml:5:{column}: ")),
            "{condition}: {text}"
        );
        assert!(text.contains(part), "{condition}: {text}");
    }
    for (toml, part) in [
        (format!("{head}until = 'status == 200'\n"), "needs `steps`"),
        (
            format!("{head}until = 'status == 200'\nmethod = \"GET\"\n{step}"),
            "`method` does not belong in a until step",
        ),
        (
            format!("{head}until = 'status == 200'\non_timeout = \"retry\"\n{step}"),
            "expected \"fail\" or \"continue\"",
        ),
        (format!("{head}foreach = \"/items\"\n{step}"), "needs `as`"),
        (
            format!("{head}foreach = \"/items\"\nas = \"x\"\nfrom = \"nothing\"\n{step}"),
            "undefined variable \"nothing\"",
        ),
        (format!("{head}wait = \"soon\"\n"), "flow.toml:5:8: wait: "),
        (
            format!("{head}method = \"GET\"\npath = \"/x\"\ninterval = \"1s\"\n"),
            "`interval` belongs to a flow step",
        ),
        (
            format!("{head}loop = -1\n{step}"),
            "loop count must be 0 or more",
        ),
    ] {
        let text = check_err(&toml).to_string();
        assert!(text.starts_with("flow.toml:"), "{toml}: {text}");
        assert!(text.contains(part), "{toml}: {text}");
    }
}
