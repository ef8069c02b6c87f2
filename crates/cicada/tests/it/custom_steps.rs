//! Custom steps in Rust against a real server: a closure's requests go through the user's own
//! client and are counted exactly, custom timings and failures get rows and failure groups,
//! variables it sets are seen by a following file step's template, an `Err` fails the step
//! (and ends the task), and a scenario with custom steps is validated like any other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use cicada::launch::{LaunchOptions, SetupError, prepare};
use cicada::scenario::builder::ScenarioBuilder;
use cicada::scenario::{
    CustomStep, LoadSpec, Request, Scenario, ScenarioError, StepError, Task, UserType,
    parse_scenario,
};
use cicada_report::RunReport;
use serde_json::{Value, json};

use crate::util::{row, run, serve};

/// A job service: a job is COMPLETED on its third poll; every call is counted.
#[derive(Default)]
struct Jobs {
    created: AtomicU64,
    polls: Mutex<HashMap<u64, u64>>,
    /// `(job id, X-User header)` of every `GET /seen/{id}`.
    seen: Mutex<Vec<(String, String)>>,
    /// X-User headers of the custom step's requests.
    users: Mutex<Vec<String>>,
    plain: AtomicU64,
    after: AtomicU64,
}

const POLLS_TO_COMPLETE: u64 = 3;

fn app(state: Arc<Jobs>) -> Router {
    let who = |h: &HeaderMap| {
        h.get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Router::new()
        .route(
            "/jobs",
            post(
                move |State(s): State<Arc<Jobs>>, h: HeaderMap, body: axum::Json<Value>| async move {
                    s.users.lock().unwrap().push(who(&h));
                    let id = s.created.fetch_add(1, Ordering::Relaxed);
                    axum::Json(json!({ "id": id, "status": "PENDING", "echo": body.0["kind"] }))
                },
            ),
        )
        .route(
            "/jobs/{id}",
            get(
                |State(s): State<Arc<Jobs>>, UrlPath(id): UrlPath<u64>| async move {
                    let mut polls = s.polls.lock().unwrap();
                    let n = polls.entry(id).or_default();
                    *n += 1;
                    let status = if *n >= POLLS_TO_COMPLETE {
                        "COMPLETED"
                    } else {
                        "RUNNING"
                    };
                    axum::Json(json!({ "id": id, "status": status }))
                },
            ),
        )
        .route(
            "/seen/{id}",
            get(
                move |State(s): State<Arc<Jobs>>, h: HeaderMap, UrlPath(id): UrlPath<String>| async move {
                    s.seen.lock().unwrap().push((id, who(&h)));
                    "ok"
                },
            ),
        )
        .route(
            "/plain",
            get(|State(s): State<Arc<Jobs>>| async move {
                s.plain.fetch_add(1, Ordering::Relaxed);
                "ok"
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
            "/status/{code}",
            get(|UrlPath(code): UrlPath<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
            }),
        )
        .with_state(state)
}

fn iterations(users: u64, n: u64) -> LoadSpec {
    LoadSpec {
        users: Some(users),
        spawn_rate: Some(100.0),
        iterations: Some(n),
        run_time: Some(Duration::from_secs(30)),
        ..LoadSpec::default()
    }
}

async fn run_scenario(scenario: Scenario, host: &str, load: LoadSpec) -> RunReport {
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some(host.to_string()),
        load,
        seed: Some(7),
        ..LaunchOptions::default()
    };
    run(prepare(&options).expect("scenario is valid")).await
}

/// The file part: a user type whose requests carry `X-User: {{who}}`, and one plain task.
const FILE: &str = r#"
name = "custom steps"
[variables]
who = "tester"

[[users]]
name = "u"
headers = { X-User = "{{who}}" }

[[users.tasks]]
name = "plain"
method = "GET"
path = "/plain"
"#;

/// Create a job, poll it in a Rust loop until COMPLETED, record the time, keep its id.
fn create_and_poll() -> CustomStep {
    CustomStep::new("create and poll", |vu| async move {
        let began = Instant::now();
        let job: Value = vu
            .post("/jobs")
            .json(&json!({ "kind": "report" }))
            .send()
            .await?
            .json()?;
        if job["echo"] != "report" {
            return Err(StepError::new(format!("the JSON body was not sent: {job}")));
        }
        let id = job["id"].to_string();
        let mut pause = Duration::from_millis(1);
        loop {
            let reply = vu
                .get(&format!("/jobs/{id}"))
                .name("/jobs/{id}")
                .send()
                .await?;
            if reply.json::<Value>()?["status"] == "COMPLETED" {
                break;
            }
            vu.sleep(pause).await?;
            pause *= 2;
        }
        vu.record("job→done", began.elapsed());
        vu.set("job_id", id)?;
        Ok(())
    })
    .sets("job_id")
    .timing("job→done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_steps_requests_timings_and_variables_are_counted_exactly() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let scenario = ScenarioBuilder::from_scenario(
        parse_scenario(FILE, std::path::Path::new("custom.toml")).unwrap(),
    )
    .extend_user_type("u", |u| {
        u.task(
            Task::new("journey")
                .weight(3)
                .step(create_and_poll())
                .step(Request::get("/seen/{{job_id}}")),
        )
    })
    .unwrap()
    .threshold("CUSTOM job→done: p95<10s")
    .build();
    let report = run_scenario(scenario, &host, iterations(3, 40)).await;

    let jobs = state.created.load(Ordering::Relaxed);
    let polls: u64 = state.polls.lock().unwrap().values().sum();
    let plain = state.plain.load(Ordering::Relaxed);
    assert_eq!(jobs + plain, 40, "every iteration ran one task");
    assert!(
        jobs > 0 && plain > 0,
        "both tasks ran: {jobs} journeys, {plain} plain"
    );
    assert_eq!(polls, jobs * POLLS_TO_COMPLETE);
    // The custom step's requests have rows like any other, counted exactly.
    let created = row(&report, "POST", "/jobs");
    assert_eq!((created.requests, created.failures), (jobs, 0));
    let polled = row(&report, "GET", "/jobs/{id}");
    assert_eq!((polled.requests, polled.failures), (polls, 0));
    assert_eq!(row(&report, "GET", "plain").requests, plain);
    // The step's own row and the custom timing: one per journey.
    let step = row(&report, "CUSTOM", "create and poll");
    assert_eq!((step.requests, step.failures), (jobs, 0));
    let timing = row(&report, "CUSTOM", "job→done");
    assert_eq!((timing.requests, timing.failures), (jobs, 0));
    // The timing covers the polls it waited for: at least as long as its requests.
    assert!(timing.min_ms >= created.min_ms + 2.0 * polled.min_ms);
    assert!(step.max_ms >= timing.max_ms);
    // Custom rows are not requests: the aggregated row counts only HTTP requests.
    let seen = row(&report, "GET", "/seen/{{job_id}}");
    assert_eq!(seen.requests, jobs);
    assert_eq!(report.aggregated.requests, jobs + polls + plain + jobs);
    // The variable the closure set reached the file step's template, and the user type's
    // headers went with the closure's requests too.
    let seen = state.seen.lock().unwrap();
    let mut ids: Vec<u64> = seen.iter().map(|(id, _)| id.parse().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..jobs).collect::<Vec<_>>());
    assert!(seen.iter().all(|(_, who)| who == "tester"));
    assert!(state.users.lock().unwrap().iter().all(|w| w == "tester"));
    assert!(report.verdict.passed, "{:?}", report.verdict);
    assert_eq!(
        report.thresholds[0].scope.as_deref(),
        Some("CUSTOM job→done")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_failures_are_failure_groups_and_err_fails_the_step() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let scenario = Scenario::builder("failures")
        .user_type(
            UserType::new("u")
                .task(
                    Task::new("reports a failure and goes on")
                        .step(cicada::scenario::Step::custom("quota", |vu| async move {
                            vu.fail("quota check", "over quota");
                            Ok(())
                        }))
                        .step(Request::get("/after")),
                )
                .task(
                    Task::new("fails")
                        .step(cicada::scenario::Step::custom(
                            "refuses",
                            |_vu| async move { Err(StepError::new("no such agent")) },
                        ))
                        .step(Request::get("/after")),
                )
                .task(Task::custom("server error", |vu| async move {
                    vu.get("/status/503").send().await?;
                    Ok(())
                })),
        )
        .build();
    let report = run_scenario(scenario, &host, iterations(2, 60)).await;

    let ok = row(&report, "CUSTOM", "quota");
    let quota = row(&report, "CUSTOM", "quota check");
    let refused = row(&report, "CUSTOM", "refuses");
    let broken = row(&report, "CUSTOM", "server error");
    let status = row(&report, "GET", "/status/503");
    assert_eq!(ok.requests + refused.requests + broken.requests, 60);
    assert!(ok.requests > 0 && refused.requests > 0 && broken.requests > 0);
    // vu.fail: a failure group on its own row; the step itself passed and the task went on.
    assert_eq!(ok.failures, 0);
    assert_eq!((quota.requests, quota.failures), (ok.requests, ok.requests));
    // Err: the step failed with its message, and the task ended there.
    assert_eq!(refused.failures, refused.requests);
    assert_eq!(state.after.load(Ordering::Relaxed), ok.requests);
    assert_eq!(row(&report, "GET", "/after").requests, ok.requests);
    // A status that does not pass fails the request's row and, through `?`, the step.
    assert_eq!(
        (status.requests, status.failures),
        (broken.requests, broken.requests)
    );
    assert_eq!(broken.failures, broken.requests);
    let group = |method: &str, name: &str| {
        report
            .failures
            .iter()
            .find(|f| f.method == method && f.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no failure group for {method} {name}: {:?}",
                    report.failures
                )
            })
    };
    assert_eq!(group("CUSTOM", "quota check").message, "over quota");
    assert_eq!(group("CUSTOM", "quota check").occurrences, ok.requests);
    assert_eq!(group("CUSTOM", "refuses").message, "no such agent");
    assert_eq!(group("GET", "/status/503").message, "HTTP 503");
    assert_eq!(
        group("CUSTOM", "server error").message,
        "GET /status/503: HTTP 503"
    );
    assert_eq!(report.aggregated.requests, ok.requests + broken.requests);
}

fn invalid(scenario: Scenario) -> String {
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some("http://127.0.0.1:9".to_string()),
        ..LaunchOptions::default()
    };
    match prepare(&options) {
        Err(SetupError::Scenario(e @ ScenarioError::Invalid { .. })) => e.to_string(),
        Err(e) => panic!("expected an invalid scenario, got {e}"),
        Ok(_) => panic!("the scenario was accepted"),
    }
}

#[test]
fn scenarios_with_custom_steps_are_validated_like_any_other() {
    let noop = || CustomStep::new("noop", |_vu| async move { Ok(()) });
    let with = |task: Task| {
        Scenario::builder("bad")
            .user_type(UserType::new("u").task(task))
            .build()
    };
    let e = invalid(with(Task::new("t").step(noop()).weight(0)));
    assert!(e.contains("weight must be a whole number"), "{e}");
    let e = invalid(with(
        Task::new("t").step(CustomStep::new("", |_vu| async move { Ok(()) })),
    ));
    assert!(e.contains("a custom step needs a name"), "{e}");
    let e = invalid(with(Task::new("t").step(noop().sets("not a name"))));
    assert!(e.contains("invalid variable name"), "{e}");
    // A template needs its variable declared: by the step that sets it, or elsewhere.
    let e = invalid(with(
        Task::new("t")
            .step(noop())
            .step(Request::get("/x/{{job_id}}")),
    ));
    assert!(e.contains("undefined variable {{job_id}}"), "{e}");
    let e = invalid(with(Task::new("t").step(noop().declare("G ET", "/x"))));
    assert!(e.contains("row method"), "{e}");
    // A threshold may name a declared row, but not an unknown one.
    let ok = Scenario::builder("ok")
        .user_type(UserType::new("u").task(Task::new("t").step(noop().timing("done"))))
        .threshold("CUSTOM done: p95<1s")
        .build();
    let options = LaunchOptions {
        scenario: Some(ok),
        host: Some("http://127.0.0.1:9".to_string()),
        load: iterations(1, 1),
        ..LaunchOptions::default()
    };
    if let Err(e) = prepare(&options) {
        panic!("a threshold on a declared row: {e}");
    }
    let unknown = Scenario::builder("bad")
        .user_type(UserType::new("u").task(Task::new("t").step(noop())))
        .threshold("CUSTOM undeclared: p95<1s")
        .build();
    let e = invalid(unknown);
    assert!(e.contains("not in the scenario"), "{e}");
    // Extending a user type that is not there is an error, not a silent no-op.
    let e = ScenarioBuilder::from_scenario(with(Task::new("t").step(noop())))
        .extend_user_type("nobody", |u| u)
        .expect_err("an error");
    assert!(e.to_string().contains("no user type \"nobody\""), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_step_asleep_when_the_run_ends_stops_at_once_and_records_nothing() {
    let state = Arc::new(Jobs::default());
    let host = serve(app(Arc::clone(&state))).await;
    let long = Duration::from_secs(120);
    let scenario = Scenario::builder("stops")
        .user_type(
            UserType::new("u").task(Task::custom("sleeper", move |vu| async move {
                vu.get("/plain").send().await?;
                vu.sleep(long).await?;
                Err(StepError::new("slept through the end of the run"))
            })),
        )
        .build();
    let load = LoadSpec {
        users: Some(2),
        spawn_rate: Some(100.0),
        run_time: Some(Duration::from_millis(500)),
        ..LoadSpec::default()
    };
    let began = Instant::now();
    let report = run_scenario(scenario, &host, load).await;
    // A sleep that did not wake would hold the user until the stop timeout cut it off (10 s
    // after a 0.5 s run); it woke at the end of the run.
    let stop_timeout = cicada::runner::DEFAULT_STOP_TIMEOUT;
    assert!(
        began.elapsed() < stop_timeout / 2,
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(row(&report, "GET", "/plain").requests, 2);
    assert_eq!(state.plain.load(Ordering::Relaxed), 2);
    let sleeper = row(&report, "CUSTOM", "sleeper");
    assert_eq!((sleeper.requests, sleeper.failures), (0, 0));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}
