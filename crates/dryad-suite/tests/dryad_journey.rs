//! The DRYAD journey (`tests/load/dryad-journey.toml`) and flow steps against a real dryad, run
//! by the real `cicada` binary:
//!
//! - the journey's `GROUP execute → COMPLETED` row equals, within the poll interval (plus the
//!   two requests' own times), dryad's own time from request to finish of the same executions;
//! - an `until` whose timeout is shorter than the agent fails as configured (`fail` ends the
//!   task, `continue` goes on);
//! - `foreach` over a captured list sends one request per element, as dryad counts them;
//! - a bad condition is an error (file:line:column, exit 2) before any request reaches dryad.

mod support;

use std::collections::HashSet;
use std::path::Path;

use chrono::DateTime;
use serde_json::Value;
use support::api::{executions, served, token};
use support::{Bins, Dryad, Scratch, bins, cicada_run, text};

const POLL_MS: f64 = 100.0;

/// The journey scenario, with a short think time so that a test run is a few seconds.
fn journey() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/dryad-journey.toml");
    let full = std::fs::read_to_string(path).unwrap();
    let wait = r#"wait = { between = ["1s", "3s"] }"#;
    assert!(full.contains(wait));
    full.replace(wait, r#"wait = { constant = "50ms" }"#)
}

fn agents(scratch: &Scratch) -> Vec<String> {
    std::fs::read_to_string(scratch.path("data/agents.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn run(bins: &Bins, scratch: &Scratch, dryad: &Dryad, extra: &[&str]) -> (Option<i32>, String) {
    let out = cicada_run(bins, scratch, &["-H", &dryad.base, "--quiet"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn row<'a>(
    report: &'a cicada_report::RunReport,
    method: &str,
    name: &str,
) -> Option<&'a cicada_report::model::RequestStats> {
    report
        .requests
        .iter()
        .find(|r| r.method == method && r.name == name)
}

fn ms(v: &Value) -> f64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_micros() as f64
        / 1000.0
}

#[test]
fn the_journey_group_row_equals_dryads_own_execution_times() {
    let bins = bins();
    let scratch = Scratch::new("journey", &journey());
    scratch.seed_with(&bins, 4, 2);
    let dryad = Dryad::start(&bins, &scratch, &[], &[]);
    let token = token(&dryad.base);
    let agents = agents(&scratch);
    let before: HashSet<String> = executions(&dryad.base, &token, &agents)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    let (code, out) = run(
        &bins,
        &scratch,
        &dryad,
        &["-u", "3", "-r", "10", "--iterations", "12", "-t", "60s"],
    );
    assert_eq!(code, Some(0), "{out}");
    let report = scratch.report();
    let group = row(&report, "GROUP", "execute → COMPLETED").expect("the group row");
    let until = row(&report, "UNTIL", "execution finished").expect("the until row");
    assert_eq!((group.requests, group.failures), (12, 0), "{out}");
    assert_eq!((until.requests, until.failures), (12, 0), "{out}");
    let post = row(&report, "POST", "/api/v1/agent-studio/execute").unwrap();
    let poll = row(
        &report,
        "GET",
        "/api/v1/agent-studio/executions/{{execution}}",
    )
    .unwrap();
    assert_eq!(post.requests, 12);
    assert!(poll.requests >= 12, "at least one poll per journey");
    assert_eq!(
        poll.requests,
        served(
            &dryad.base,
            "GET",
            "/api/v1/agent-studio/executions/{execution_id}"
        )
    );
    let history = row(
        &report,
        "GET",
        "/api/v1/agent-studio/agents/{{agent_id}}/executions",
    )
    .unwrap();
    assert_eq!(
        history.requests, 12,
        "the history is read after each journey"
    );

    // dryad's own account of the same 12 executions: finished, and how long from request to end.
    let new: Vec<Value> = executions(&dryad.base, &token, &agents)
        .into_iter()
        .filter(|e| !before.contains(e["id"].as_str().unwrap()))
        .collect();
    assert_eq!(new.len(), 12);
    let took: Vec<f64> = new
        .iter()
        .map(|e| {
            assert!(
                matches!(e["status"].as_str(), Some("COMPLETED" | "FAILED")),
                "{e}"
            );
            ms(&e["execution_end"]) - ms(&e["execution_start"])
        })
        .collect();
    let dryad_mean = took.iter().sum::<f64>() / took.len() as f64;
    // The group starts before dryad stamps the request and ends at the first poll that sees the
    // end: dryad's time plus the start request, at most one poll interval and the last poll.
    let slack = POLL_MS + post.mean_ms + poll.max_ms;
    let why = format!(
        "group mean {:.1} ms, dryad mean {dryad_mean:.1} ms (allowed +{slack:.1}); dryad: {took:?}",
        group.mean_ms
    );
    assert!(group.mean_ms >= dryad_mean - 1.0, "{why}");
    assert!(group.mean_ms <= dryad_mean + slack, "{why}");
    let dryad_min = took.iter().copied().fold(f64::MAX, f64::min);
    let dryad_max = took.iter().copied().fold(0.0, f64::max);
    assert!(group.min_ms >= dryad_min - 1.0, "{why}");
    assert!(group.max_ms <= dryad_max + slack, "{why}");
    // The journey's thresholds were judged on the group row.
    let t = report
        .thresholds
        .iter()
        .find(|t| t.scope.as_deref() == Some("GROUP execute → COMPLETED"))
        .unwrap();
    assert!(t.passed && t.observed == Some(group.percentiles.p95));
}

#[test]
fn an_until_shorter_than_the_agent_fails_or_continues_as_configured() {
    let bins = bins();
    let short = journey()
        .replace(r#"timeout = "20s""#, r#"timeout = "200ms""#)
        .replace(r#"interval = "100ms""#, r#"interval = "50ms""#);
    let scratch = Scratch::new("until-timeout", &short);
    scratch.seed_with(&bins, 2, 1);
    // Every agent run takes about 3 s: the 200 ms until always runs out.
    let slow = [
        "--agent-latency-median-ms",
        "3000",
        "--agent-latency-sigma",
        "0.01",
    ];
    let dryad = Dryad::start(&bins, &scratch, &[], &slow);
    let (code, out) = run(
        &bins,
        &scratch,
        &dryad,
        &["-u", "2", "-r", "10", "--iterations", "4", "-t", "60s"],
    );
    assert_eq!(code, Some(1), "the journey's thresholds fail: {out}");
    let report = scratch.report();
    let until = row(&report, "UNTIL", "execution finished").unwrap();
    assert_eq!((until.requests, until.failures), (4, 4), "{out}");
    let group = row(&report, "GROUP", "execute → COMPLETED").unwrap();
    assert_eq!(group.failures, 4);
    let f = report
        .failures
        .iter()
        .find(|f| f.method == "UNTIL")
        .unwrap();
    assert!(f.message.starts_with("until timed out: "), "{}", f.message);
    assert_eq!(f.occurrences, 4);
    // `fail` ended each journey: the history was never read.
    assert!(
        row(
            &report,
            "GET",
            "/api/v1/agent-studio/agents/{{agent_id}}/executions"
        )
        .is_none_or(|r| r.requests == 0)
    );
    assert_eq!(
        served(
            &dryad.base,
            "GET",
            "/api/v1/agent-studio/agents/{agent_id}/executions"
        ),
        0
    );

    let continuing = short.replace(r#"on_timeout = "fail""#, r#"on_timeout = "continue""#);
    std::fs::write(scratch.path("scenario.toml"), continuing).unwrap();
    let (_, out) = run(
        &bins,
        &scratch,
        &dryad,
        &["-u", "2", "-r", "10", "--iterations", "4", "-t", "60s"],
    );
    let report = scratch.report();
    let until = row(&report, "UNTIL", "execution finished").unwrap();
    assert_eq!((until.requests, until.failures), (4, 0), "{out}");
    let history = row(
        &report,
        "GET",
        "/api/v1/agent-studio/agents/{{agent_id}}/executions",
    )
    .unwrap();
    assert_eq!(history.requests, 4, "went on to the history: {out}");
}

const FOREACH: &str = r#"
[variables]
username = "loadtest"
password = "test123"
[feeders.agents]
file = "data/agents.csv"
[[users]]
headers = { Authorization = "Bearer {{token}}" }
[[users.on_start]]
method = "POST"
path = "/api/v1/auth/login"
json = { username = "{{username}}", password = "{{password}}" }
capture = { token = { json = "/access_token" } }
[[users.tasks]]
name = "walk the history"
[[users.tasks.steps]]
method = "GET"
path = "/api/v1/agent-studio/agents/{{agent_id}}/executions"
query = { limit = "3" }
[[users.tasks.steps]]
foreach = "/executions"
select = "/id"
as = "past"
[[users.tasks.steps.steps]]
method = "GET"
path = "/api/v1/agent-studio/executions/{{past}}"
checks = [{ json = "/id" }]
"#;

#[test]
fn foreach_sends_one_request_per_element_of_the_captured_list() {
    let bins = bins();
    let scratch = Scratch::new("foreach", FOREACH);
    scratch.seed_with(&bins, 3, 5);
    let dryad = Dryad::start(&bins, &scratch, &[], &[]);
    let (code, out) = run(
        &bins,
        &scratch,
        &dryad,
        &["-u", "2", "-r", "10", "--iterations", "5", "-t", "60s"],
    );
    assert_eq!(code, Some(0), "{out}");
    let report = scratch.report();
    let each = row(&report, "GET", "/api/v1/agent-studio/executions/{{past}}").unwrap();
    assert_eq!(
        (each.requests, each.failures),
        (15, 0),
        "3 per history page: {out}"
    );
    assert_eq!(
        served(
            &dryad.base,
            "GET",
            "/api/v1/agent-studio/executions/{execution_id}"
        ),
        15
    );
    assert_eq!(
        row(&report, "FOREACH", "foreach /executions")
            .unwrap()
            .requests,
        5
    );
}

#[test]
fn a_bad_condition_is_an_error_before_any_request() {
    let bins = bins();
    let bad = FOREACH.replace(
        "foreach = \"/executions\"",
        "until = 'json(\"/executions\") = []'\n[[users.tasks.steps.steps]]\nmethod = \"GET\"\npath = \"/x\"\n[[users.tasks.steps]]\nforeach = \"/executions\"",
    );
    let scratch = Scratch::new("badcond", &bad);
    scratch.seed_with(&bins, 1, 1);
    let dryad = Dryad::start(&bins, &scratch, &[], &[]);
    let (code, out) = run(&bins, &scratch, &dryad, &["-u", "1", "--iterations", "1"]);
    assert_eq!(code, Some(2), "{out}");
    let at = format!("{}:21:30: ", scratch.path("scenario.toml").display());
    assert!(out.contains(&at), "{out}");
    assert!(out.contains("'=' is not an operator"), "{out}");
    for (method, route) in [
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/agent-studio/agents/{agent_id}/executions"),
    ] {
        assert_eq!(served(&dryad.base, method, route), 0, "{method} {route}");
    }
    // `cicada check` says the same, and exits 2.
    let check = std::process::Command::new(&bins.cicada)
        .arg("check")
        .arg(scratch.path("scenario.toml"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    assert!(text(&check.stderr).contains(&at), "{}", text(&check.stderr));
}
