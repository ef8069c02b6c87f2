//! Users who could not start (issue #10, item 5), end to end with the real `cicada` binary
//! against a real server on 127.0.0.1 that refuses every login: the run exits 1, and the
//! terminal, HTML, JSON and JUnit all say first that no user got past `on_start`, with the
//! request that failed, its status and the first bytes of its body; the task row that measured
//! nothing reads "—", never 0.0.

mod support;

use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use support::{cicada, scenario, serve_app, text};

const SCENARIO: &str = r#"name = "bad-login"
[[users]]
headers = { Authorization = "Bearer {{token}}" }
wait = { constant = "20ms" }

[[users.on_start]]
method = "POST"
path = "/api/v1/auth/login"
json = { username = "nobody", password = "wrong" }
capture = { token = { json = "/access_token" } }

[[users.tasks]]
method = "GET"
path = "/api/v1/agents"
"#;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The HTML/XML escaping the renderers use.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_every_login_fails_exits_1_and_every_front_end_says_no_user_started() {
    let host = serve_app(
        Router::new()
            .route(
                "/api/v1/auth/login",
                post(|| async {
                    (
                        StatusCode::UNAUTHORIZED,
                        [("content-type", "application/json")],
                        "{\"error\":\"invalid credentials\"}",
                    )
                }),
            )
            .route("/api/v1/agents", get(|| async { "[]" })),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let (json, html, junit) = (
        dir.path().join("r.json"),
        dir.path().join("r.html"),
        dir.path().join("junit.xml"),
    );
    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "1500ms",
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ])
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let report: serde_json::Value = serde_json::from_str(&read(&json)).unwrap();
    let (html, junit) = (read(&html), read(&junit));

    // JSON: the users, the failing request with its excerpt, and the reason that leads with it.
    let users = &report["users"];
    assert_eq!(
        (users["spawned"].as_u64(), users["never_started"].as_u64()),
        (Some(4), Some(4))
    );
    let failed = &users["failed_request"];
    assert_eq!(failed["name"], "/api/v1/auth/login");
    assert_eq!(failed["message"], "HTTP 401");
    assert_eq!(
        failed["body_excerpt"],
        "{\"error\":\"invalid credentials\"}"
    );
    assert_eq!(
        report["failures"][0]["body_excerpt"],
        "{\"error\":\"invalid credentials\"}"
    );
    let headline = "4 of 4 users never started their tasks: on_start failed at POST \
                    /api/v1/auth/login with HTTP 401 {\"error\":\"invalid credentials\"}";
    let reason = report["verdict"]["reason"].as_str().unwrap();
    assert!(reason.starts_with(headline), "{reason}");
    // The task row measured nothing: its latency fields are left out, not 0.
    let agents = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "/api/v1/agents")
        .expect("the task row");
    assert_eq!(agents["requests"], 0);
    assert!(
        agents.get("percentiles").is_none() && agents.get("max_ms").is_none(),
        "{agents}"
    );

    // Terminal: said first, before the table; the same verdict line; the excerpt under the
    // failure; dashes in the task row.
    let said = out
        .find(&format!("USERS NEVER STARTED: {headline}"))
        .expect(&out);
    assert!(said < out.find("# reqs").expect("the table"), "{out}");
    assert!(out.contains(&format!("FAILED: {reason}")), "{out}");
    assert!(
        out.contains("body: {\"error\":\"invalid credentials\"}"),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("GET") && l.contains("/api/v1/agents"))
        .expect(&out);
    assert_eq!(row.matches('—').count(), 5, "{row}");
    assert!(!row.contains("0.0 "), "{row}");

    // HTML: the verdict banner leads with it (escaped), the failure shows the excerpt.
    assert!(
        html.contains(&format!("FAILED: {}", escape(reason))),
        "HTML verdict"
    );
    assert!(html.contains(&format!(
        "<li class=\"never-started\">{}</li>",
        escape(headline)
    )));
    assert!(html.contains(&format!(
        "<div class=\"excerpt\" title=\"the first bytes of the response body\">{}</div>",
        escape("{\"error\":\"invalid credentials\"}")
    )));

    // JUnit: the failed-requests case fails with the same reason; the counts are properties.
    assert!(
        junit.contains(&format!(
            "<failure message=\"{}\" type=\"failed-requests\">",
            escape(reason)
        )),
        "{junit}"
    );
    assert!(junit.contains("<property name=\"users_never_started\" value=\"4\"/>"));
}
