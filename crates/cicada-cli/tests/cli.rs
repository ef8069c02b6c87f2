//! The `cicada` binary end to end: exit codes, reports written, signals.

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use support::{bin, cicada, scenario, serve_app, text};

async fn serve() -> String {
    serve_app(Router::new().route("/x", get(|| async { "ok" }))).await
}

const OK: &str = "name = \"cli\"\n[[users]]\nwait = { constant = \"10ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

#[tokio::test]
async fn help_lists_exit_codes() {
    let o = cicada(&["run", "--help"]).await;
    assert!(o.status.success());
    let t = text(&o);
    for needle in [
        "--users",
        "--spawn-rate",
        "--run-time",
        "--threshold",
        "Exit codes",
        "130",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
}

#[tokio::test]
async fn check_prints_the_plan_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let o = cicada(&[
        "check",
        path.to_str().unwrap(),
        "-u",
        "10",
        "-r",
        "2",
        "-t",
        "1m",
        "-H",
        "http://127.0.0.1:9",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("valid") && t.contains("10 users, spawn rate 2/s, 1m"),
        "{t}"
    );
    assert!(t.contains("GET /x"), "{t}");
}

#[tokio::test]
async fn bad_input_exits_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "[[users]]\nweight = \n");
    let o = cicada(&["check", path.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("load.toml:2:"), "{}", text(&o));
    let good = scenario(dir.path(), OK);
    let good = good.to_str().unwrap();
    for flags in [
        &["-u", "1", "-t", "-5s"][..],
        &["-u", "1", "-t", "5 minutes"],
        &["-u", "1", "-r", "0"],
        &["-u", "-3"],
        &["--stage", "10s"],
        &["-u", "1", "--threshold", "p95<<2"],
        &["-u", "1", "-H", "ftp://nope"],
        // A bound without load: `check` once called this valid.
        &["-t", "0s"],
        &["--iterations", "0"],
    ] {
        // `check` refuses what `run` refuses: they share one validation.
        for command in ["run", "check"] {
            let mut args = vec![command, good, "-H", "http://127.0.0.1:9"];
            args.extend_from_slice(flags);
            let o = cicada(&args).await;
            assert_eq!(
                o.status.code(),
                Some(2),
                "{command} {flags:?}: {}",
                text(&o)
            );
        }
    }
}

#[tokio::test]
async fn unreachable_target_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("http://127.0.0.1:{port}");
    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "1",
        "-t",
        "1s",
    ])
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("unreachable"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_json_and_exit_code_follows_thresholds() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let json = dir.path().join("report.json");
    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "3",
        "-r",
        "100",
        "-t",
        "1500ms",
        "--json",
        json.to_str().unwrap(),
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "GET /x: p95<5s",
        "-q",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains(&format!("target {host}")), "{t}");
    assert!(t.contains("Total requests:") && t.contains("P95"), "{t}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["aggregated"]["requests"].as_u64().unwrap() > 10);
    assert_eq!(report["verdict"]["passed"], true);

    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "1",
        "-t",
        "1s",
        "--threshold",
        "p95<1us",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAIL p95<1us"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_writes_the_report() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let json = dir.path().join("report.json");
    let child = tokio::process::Command::new(bin())
        .args([
            "run",
            path.to_str().unwrap(),
            "-H",
            &host,
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "60s",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["run"]["interrupted"], true);
    assert!(report["aggregated"]["requests"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_stops_at_once() {
    let app = Router::new().route("/x", get(|| async { std::future::pending::<&str>().await }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let json = dir.path().join("report.json");
    let child = tokio::process::Command::new(bin())
        .args([
            "run",
            path.to_str().unwrap(),
            "-H",
            &host,
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "60s",
            "--stop-timeout",
            "60s",
            "-q",
        ])
        .args(["--json", json.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap().to_string();
    let term = || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(term().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(term().success());
    let o = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("stopping at once"), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["run"]["interrupted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_shows_the_targets_server_timing() {
    let app = Router::new().route(
        "/x",
        get(|| async { ([("server-timing", "pool;dur=1, db;dur=4, app;dur=5")], "ok") }),
    );
    let host = serve_app(app).await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "3",
        "-r",
        "100",
        "-t",
        "1500ms",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("Server-Timing (the target's own account)"),
        "{t}"
    );
    let row = t
        .lines()
        .skip_while(|l| !l.starts_with("Server-Timing"))
        .find(|l| l.starts_with("GET") && l.contains("/x"))
        .unwrap_or_else(|| panic!("no Server-Timing row for /x: {t}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // GET /x responses share db_ms pool_ms: every response said db 4 ms and pool 1 ms.
    assert_eq!(cols.len(), 6, "{row}");
    assert!(cols[2].parse::<u64>().unwrap() > 0, "{row}");
    let share: f64 = cols[3].trim_end_matches('%').parse().unwrap();
    assert!(share > 0.0 && share <= 100.0, "{row}");
    assert_eq!(cols[4..], ["4.00", "1.00"], "{row}");
}

#[tokio::test]
async fn execution_segment_is_checked_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let path = path.to_str().unwrap();
    let o = cicada(&[
        "check",
        path,
        "-u",
        "9",
        "--execution-segment",
        "1/3:2/3",
        "--execution-segment-sequence",
        "0,1/3,2/3,1",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("segment:  1/3:2/3 of 0,1/3,2/3,1"),
        "{}",
        text(&o)
    );
    for (flags, says) in [
        (&["--execution-segment", "2/3:1/3"][..], "expected FROM:TO"),
        (&["--execution-segment", "half"][..], "expected FROM:TO"),
        (
            &[
                "--execution-segment",
                "0:1/2",
                "--execution-segment-sequence",
                "0,1/3,1",
            ][..],
            "not one of the segments",
        ),
        (
            &["--execution-segment-sequence", "0,1/2,1"][..],
            "needs --execution-segment",
        ),
    ] {
        let mut args = vec!["check", path, "-u", "9"];
        args.extend_from_slice(flags);
        let o = cicada(&args).await;
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("--execution-segment") && t.contains(says),
            "{flags:?}: {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_run_starts_at_its_instant_and_records_its_segment() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let (json, html) = (dir.path().join("w1.json"), dir.path().join("w1.html"));
    let start_at = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let start_text = start_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "3",
        "-r",
        "100",
        "--iterations",
        "10",
        "-t",
        "60s",
        "--execution-segment",
        "1/3:2/3",
        "--start-at",
        &start_text,
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "-q",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["run"]["segment"], "1/3:2/3");
    assert_eq!(report["run"]["started_at"], start_text.as_str());
    // Iterations 1, 4 and 7 of the whole run's 10.
    assert_eq!(report["aggregated"]["requests"], 3);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Execution segment") && page.contains("1/3:2/3"));

    let o = cicada(&[
        "run",
        path.to_str().unwrap(),
        "-u",
        "1",
        "--start-at",
        "soon",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--start-at") && text(&o).contains("RFC 3339"),
        "{}",
        text(&o)
    );
}
