//! `cicada import` end to end: every fixture Locust file converts through the binary to a file
//! that `cicada check` accepts; stdout without -o; no overwrite without --force; what is not
//! converted is on stderr with file:line; a missing Python is a clear error; and a converted
//! `catch_response` file runs against a real server with its checks deciding the verdict.

mod support;

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use support::{cicada, serve_app, text};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cicada-import/tests/fixtures")
}

fn locust_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

#[tokio::test]
async fn every_fixture_imports_to_a_scenario_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for py in locust_files() {
        let out = dir
            .path()
            .join(py.with_extension("toml").file_name().unwrap());
        let o = cicada(&["import", py.to_str().unwrap(), "-o", out.to_str().unwrap()]).await;
        assert_eq!(o.status.code(), Some(0), "{}: {}", py.display(), text(&o));
        assert!(
            text(&o).contains("check it with: cicada check"),
            "{}",
            text(&o)
        );
        let o = cicada(&["check", out.to_str().unwrap()]).await;
        assert_eq!(o.status.code(), Some(0), "{}: {}", out.display(), text(&o));
        assert!(text(&o).contains("— valid"), "{}", text(&o));
    }
}

#[tokio::test]
async fn without_output_the_scenario_goes_to_stdout() {
    let py = fixtures().join("polling.py");
    let o = cicada(&["import", py.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let expected = std::fs::read_to_string(fixtures().join("polling.toml")).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
}

#[tokio::test]
async fn an_existing_output_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scenario.toml");
    std::fs::write(&out, "keep me").unwrap();
    let py = fixtures().join("tags_fixed.py");
    let (py, out_s) = (py.to_str().unwrap(), out.to_str().unwrap());
    let o = cicada(&["import", py, "-o", out_s]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("exists; pass --force"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let o = cicada(&["import", py, "-o", out_s, "--force"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(&out).unwrap().contains("[[users]]"));
}

#[tokio::test]
async fn what_is_not_converted_is_listed_on_stderr_with_file_and_line() {
    let py = fixtures().join("unconvertible.py");
    let o = cicada(&["import", py.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "unconvertible.py:11: not converted: `class GrpcUser(User):`",
        "unconvertible.py:24: not converted: `self.client.get(\"https://elsewhere.example/tails\")`",
        "unconvertible.py:28: not converted:",
        "unconvertible.py:33: approximated:",
        "unconvertible.py:41: not converted: `@events.request.add_listener`",
    ] {
        assert!(stderr.contains(needle), "{needle}\n{stderr}");
    }
}

#[tokio::test]
async fn bad_input_and_a_missing_python_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.py");
    std::fs::write(&bad, "class A(HttpUser:\n").unwrap();
    let o = cicada(&["import", bad.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.py:1:"), "{}", text(&o));

    let missing = dir.path().join("missing.py");
    let o = cicada(&["import", missing.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot read"), "{}", text(&o));

    let py = fixtures().join("polling.py");
    let o = cicada(&[
        "import",
        py.to_str().unwrap(),
        "--python",
        "/nonexistent/python3",
    ])
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("cannot run /nonexistent/python3"),
        "{}",
        text(&o)
    );
}

/// The catch_response fixture's endpoints; `health` is what /health says.
async fn api(health: &'static str) -> String {
    let app = Router::new()
        .route(
            "/health",
            get(move || async move { format!("{{\"status\":\"{health}\"}}") }),
        )
        .route(
            "/items/unknown",
            get(|| async { (StatusCode::NOT_FOUND, "no such item") }),
        )
        .route(
            "/search",
            get(|| async { r#"{"q":"cicada","results":[{"id":7}]}"# }),
        );
    serve_app(app).await
}

#[tokio::test]
async fn converted_catch_response_checks_decide_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("catch.toml");
    let py = fixtures().join("catch_response.py");
    let o = cicada(&["import", py.to_str().unwrap(), "-o", out.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let scenario = out.to_str().unwrap();
    let run = |host: String, report: PathBuf| async move {
        let report = report.to_str().unwrap().to_owned();
        let args = [
            "run", scenario, "-H", &host, "-u", "4", "-r", "4", "-t", "3s", "-q", "--json", &report,
        ];
        cicada(&args).await
    };
    // Healthy: a 404 that the Locust code calls a success passes, and so do the body checks.
    let o = run(api("ok").await, dir.path().join("ok.json")).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ok.json")).unwrap())
            .unwrap();
    assert!(report.to_string().contains("unknown item"));
    // Degraded: `response.json()["status"] != "ok"` → failure(), so the run fails on checks.
    let o = run(api("degraded").await, dir.path().join("bad.json")).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = std::fs::read_to_string(dir.path().join("bad.json")).unwrap();
    assert!(report.contains("check"), "{report}");
}
