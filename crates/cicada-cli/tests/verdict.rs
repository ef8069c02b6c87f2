//! The pass / fail verdict end to end (issue #10, item 4): a real `cicada` binary against real
//! servers on 127.0.0.1. With no thresholds any failed request fails the run with exit 1, as
//! Locust does; `--exit-code-on-error N` (or `[defaults] exit_code_on_error`) changes that code
//! and 0 lets the run pass; the terminal, HTML, JSON and JUnit all say the same verdict with the
//! same reason, and `cicada report` / `cicada merge` keep it.

mod support;

use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use support::{cicada, scenario, serve_app, text};

/// A server answering every request with `status` and a small body.
async fn serve_status(status: u16) -> String {
    let status = StatusCode::from_u16(status).unwrap();
    serve_app(
        Router::new()
            .fallback(move || async move { (status, "{\"detail\":\"the service says no\"}") }),
    )
    .await
}

const TASKS: &str = "name = \"verdict\"\n[[users]]\nwait = { constant = \"20ms\" }\n\
[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Run {
    code: Option<i32>,
    out: String,
    json: serde_json::Value,
    html: String,
    junit: String,
    dir: tempfile::TempDir,
}

/// `cicada run SCENARIO -H host -u 2 -t 1500ms` with every report, plus `extra` flags.
async fn run(host: &str, scenario_text: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), scenario_text);
    let (json, html, junit) = (
        dir.path().join("r.json"),
        dir.path().join("r.html"),
        dir.path().join("junit.xml"),
    );
    let mut args = vec![
        "run",
        path.to_str().unwrap(),
        "-H",
        host,
        "-u",
        "2",
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
    ];
    args.extend_from_slice(extra);
    let o = cicada(&args).await;
    Run {
        code: o.status.code(),
        out: text(&o),
        json: serde_json::from_str(&read(&json)).unwrap(),
        html: read(&html),
        junit: read(&junit),
        dir,
    }
}

/// Every front end shows `label` and the JSON's reason, word for word.
fn assert_same_verdict(r: &Run, label: &str) {
    let v = &r.json["verdict"];
    let reason = v["reason"].as_str().unwrap();
    assert!(!reason.is_empty(), "{v}");
    assert_eq!(v["passed"], label == "PASSED", "{v}");
    let line = format!("{label}: {reason}");
    assert!(r.out.contains(&line), "terminal lacks {line:?}:\n{}", r.out);
    assert!(
        r.html.contains(&cicada_render_escape(&line)),
        "HTML lacks {line:?}"
    );
    assert!(
        r.junit
            .contains(&format!("<property name=\"verdict\" value=\"{label}\"/>"))
            && r.junit.contains(&format!(
                "<property name=\"verdict_reason\" value=\"{}\"/>",
                cicada_render_escape(reason)
            )),
        "JUnit lacks the verdict:\n{}",
        r.junit
    );
    let badge = if label == "PASSED" { "PASS" } else { "FAIL" };
    assert!(
        r.html
            .contains(&format!("<div class=\"badge\">{badge}</div>")),
        "HTML badge is not {badge}"
    );
}

/// The HTML/XML escaping the renderers use (`&`, `<`, `>`, `"`, `'`).
fn cicada_render_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_failing_without_thresholds_exits_1_and_every_front_end_says_failed() {
    let host = serve_status(500).await;
    let r = run(&host, TASKS, &[]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let v = &r.json["verdict"];
    let requests = r.json["aggregated"]["requests"].as_u64().unwrap();
    assert!(requests > 5, "{requests}");
    assert_eq!(r.json["aggregated"]["failures"].as_u64(), Some(requests));
    assert_eq!(v["unallowed_failures"].as_u64(), Some(requests));
    assert_eq!(v["exit_code"], 1);
    assert_eq!(
        v["reason"].as_str().unwrap(),
        format!("{requests} of {requests} requests failed; no threshold allows failed requests")
    );
    assert_same_verdict(&r, "FAILED");
    // JUnit: the run's failed requests are a failed test case, so CI goes red.
    assert!(
        r.junit.contains("tests=\"1\" failures=\"1\"")
            && r.junit.contains("<testcase name=\"failed requests\"")
            && r.junit.contains("type=\"failed-requests\""),
        "{}",
        r.junit
    );

    // Re-rendering the saved JSON keeps the verdict, byte for byte.
    let again = (
        r.dir.path().join("again.html"),
        r.dir.path().join("again.xml"),
    );
    let json = r.dir.path().join("r.json");
    let o = cicada(&[
        "report",
        json.to_str().unwrap(),
        "--html",
        again.0.to_str().unwrap(),
        "--junit",
        again.1.to_str().unwrap(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(read(&again.0), r.html);
    assert_eq!(read(&again.1), r.junit);
    // A merge judges the merged numbers with the same rule and exit code.
    let o = cicada(&["merge", json.to_str().unwrap(), "-q"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAILED: "), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_on_error_changes_the_code_and_zero_passes_saying_the_failures_were_ignored() {
    let host = serve_status(500).await;
    let r = run(&host, TASKS, &["--exit-code-on-error", "0"]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    let reason = r.json["verdict"]["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("requests failed") && reason.contains("ignored: --exit-code-on-error 0"),
        "{reason}"
    );
    assert_same_verdict(&r, "PASSED");
    // No "failed requests" case when failures are not judged.
    assert!(r.junit.contains("tests=\"0\""), "{}", r.junit);

    let r = run(&host, TASKS, &["--exit-code-on-error", "42"]).await;
    assert_eq!(r.code, Some(42), "{}", r.out);
    assert_eq!(r.json["verdict"]["exit_code"], 42);
    assert_same_verdict(&r, "FAILED");

    // The scenario's [defaults] sets it; the flag overrides the scenario.
    let in_file = TASKS.replace("[[users]]", "[defaults]\nexit_code_on_error = 0\n[[users]]");
    let r = run(&host, &in_file, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    let r = run(&host, &in_file, &["--exit-code-on-error", "3"]).await;
    assert_eq!(r.code, Some(3), "{}", r.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_threshold_judges_the_failures_of_its_rows_and_a_failed_threshold_exits_1() {
    let host = serve_status(401).await;
    // error_rate<=100% allows every failure: the threshold decides, and it passes.
    let r = run(&host, TASKS, &["--threshold", "error_rate<=100%"]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    assert_eq!(r.json["verdict"]["reason"], "all 1 threshold passed");
    assert_same_verdict(&r, "PASSED");
    // A latency threshold allows no failure: failed requests still fail the run.
    let r = run(&host, TASKS, &["--threshold", "p95<10s"]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    assert_same_verdict(&r, "FAILED");
    // A failed threshold exits 1 even when the error code is another.
    let r = run(
        &host,
        TASKS,
        &["--threshold", "error_rate<1%", "--exit-code-on-error", "9"],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    assert_eq!(r.json["verdict"]["reason"], "1 of 1 threshold failed");
    assert_same_verdict(&r, "FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_run_without_thresholds_passes_with_exit_0() {
    let host = serve_status(200).await;
    let r = run(&host, TASKS, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    let requests = r.json["aggregated"]["requests"].as_u64().unwrap();
    assert!(requests > 5);
    assert_eq!(
        r.json["verdict"]["reason"].as_str().unwrap(),
        format!("no request failed ({requests} requests; no thresholds set)")
    );
    assert_same_verdict(&r, "PASSED");
    assert!(
        r.junit.contains("tests=\"1\" failures=\"0\"")
            && r.junit.contains("<testcase name=\"failed requests\""),
        "{}",
        r.junit
    );
}

#[tokio::test]
async fn a_bad_exit_code_on_error_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), TASKS);
    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        "http://127.0.0.1:9",
        "-u",
        "1",
        "--exit-code-on-error",
        "256",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let bad = TASKS.replace(
        "[[users]]",
        "[defaults]\nexit_code_on_error = -1\n[[users]]",
    );
    let path = scenario(dir.path(), &bad);
    let o = cicada(&["check", path.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("load.toml:"), "{}", text(&o));
}
