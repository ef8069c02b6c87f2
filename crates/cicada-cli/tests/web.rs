//! `cicada run --web` end to end: the binary serves, autostarts, writes the reports when the
//! run ends, autoquits with the run's exit code, and refuses a non-loopback bind without a token.

mod support;

use axum::Router;
use axum::routing::get;
use support::{bin, scenario, serve_app, text};

const OK: &str = "name = \"web\"\n[[users]]\nwait = { constant = \"10ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

async fn run(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(bin())
        .args(args)
        .env_remove("CICADA_WEB_AUTH_TOKEN")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_writes_reports_and_autoquit_exits_with_the_runs_code() {
    let host = serve_app(Router::new().route("/x", get(|| async { "ok" }))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let json = dir.path().join("run.json");
    let common = [
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "2",
        "-r",
        "100",
        "-t",
        "2s",
        "--web",
        "--web-port",
        "0",
        "--autostart",
        "--autoquit",
        "1",
    ];
    let mut args = common.to_vec();
    args.extend(["--json", json.to_str().unwrap()]);
    let o = run(&args).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("web UI on http://127.0.0.1:"),
        "{}",
        text(&o)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["aggregated"]["requests"].as_u64().unwrap() > 0);

    // A threshold that fails: the last run's code, as headless.
    let mut args = common.to_vec();
    args.extend(["--threshold", "max<0.001ms"]);
    let o = run(&args).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[tokio::test]
async fn a_non_loopback_bind_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let o = run(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        "http://127.0.0.1:9",
        "--web",
        "--web-host",
        "0.0.0.0",
        "--web-port",
        "0",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--web-auth-token"), "{}", text(&o));
    let o = run(&["run", path.to_str().unwrap(), "--web-port", "9000"]).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "--web-port needs --web: {}",
        text(&o)
    );
}
