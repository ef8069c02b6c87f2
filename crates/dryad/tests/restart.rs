//! Restart recovery with the real `dryad serve` binary: executions that were running when the
//! process died (SIGKILL) or stopped (SIGTERM) are requeued and finished; none is lost.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::TestApp;
use common::server::{Server, request, start};
use serde_json::{Value, json};
use tokio::process::Command;

/// One HTTP/1.1 request over a fresh connection; returns (status, JSON body).
async fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let reply = request(addr, method, path, token, body).await;
    (reply.status, reply.json())
}

async fn login(addr: &str) -> String {
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"username": "loadtest", "password": "test123"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn submit(addr: &str, token: &str, n: usize) -> Vec<String> {
    let agent = uuid::Uuid::new_v4();
    let mut ids = Vec::new();
    for i in 0..n {
        let (status, body) = http(
            addr,
            "POST",
            "/api/v1/agent-studio/execute",
            Some(token),
            Some(&json!({"agent_id": agent, "prompt": format!("job {i}")})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["execution_id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn by_status(app: &TestApp) -> HashMap<String, i64> {
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    sqlx::query_as::<_, (String, i64)>("SELECT status, COUNT(*) FROM executions GROUP BY status")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn wait_for(
    app: &TestApp,
    what: &str,
    secs: u64,
    ok: impl Fn(&HashMap<String, i64>) -> bool,
) -> HashMap<String, i64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let counts = by_status(app).await;
        if ok(&counts) {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn n(c: &HashMap<String, i64>, s: &str) -> i64 {
    c.get(s).copied().unwrap_or(0)
}

async fn sigterm(server: &mut Server) {
    let pid = server.child.id().expect("running").to_string();
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(ok.success());
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("dryad did not stop after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn killed_mid_execution_then_restarted_loses_nothing() {
    let app = TestApp::new().await;
    let slow = [
        "--agent-latency",
        "constant",
        "--agent-latency-median-ms",
        "1500",
        "--agent-latency-max-ms",
        "1600",
        "--lease-secs",
        "2",
        "--workers-min",
        "3",
        "--workers-max",
        "3",
        "--agent-failure-ratio",
        "0",
    ];
    let mut first = start(&app.db.url, &slow).await;
    let token = login(&first.addr).await;
    let ids = submit(&first.addr, &token, 6).await;
    wait_for(&app, "a RUNNING execution", 10, |c| n(c, "RUNNING") >= 1).await;
    first.child.kill().await.unwrap(); // SIGKILL: no chance to clean up
    let after_kill = by_status(&app).await;
    assert!(n(&after_kill, "RUNNING") >= 1, "{after_kill:?}");
    assert_eq!(after_kill.values().sum::<i64>(), 6);

    let mut second = start(&app.db.url, &slow).await;
    let done = wait_for(&app, "all COMPLETED", 40, |c| n(c, "COMPLETED") == 6).await;
    assert_eq!(done.values().sum::<i64>(), 6, "{done:?}");

    // Each execution is readable through the API of the new process (same JWT secret).
    for id in &ids {
        let (status, e) = http(
            &second.addr,
            "GET",
            &format!("/api/v1/agent-studio/executions/{id}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (status, e["status"].as_str()),
            (200, Some("COMPLETED")),
            "{e}"
        );
    }
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let (retried,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM executions WHERE attempts > 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(retried >= 1, "no execution was claimed twice");
    drop(conn);
    sigterm(&mut second).await;
}

#[tokio::test]
async fn sigterm_returns_running_executions_to_the_queue() {
    let app = TestApp::new().await;
    let mut first = start(
        &app.db.url,
        &[
            "--agent-latency",
            "constant",
            "--agent-latency-median-ms",
            "5000",
            "--agent-latency-max-ms",
            "5000",
            "--lease-secs",
            "600",
            "--workers-min",
            "2",
            "--workers-max",
            "2",
        ],
    )
    .await;
    let token = login(&first.addr).await;
    submit(&first.addr, &token, 4).await;
    wait_for(&app, "RUNNING executions", 10, |c| n(c, "RUNNING") >= 2).await;
    sigterm(&mut first).await;
    // With a 600 s lease only the graceful shutdown can have put them back.
    let after = by_status(&app).await;
    assert_eq!(n(&after, "RUNNING"), 0, "{after:?}");
    assert_eq!(n(&after, "PENDING"), 4, "{after:?}");

    let mut second = start(
        &app.db.url,
        &[
            "--agent-latency",
            "constant",
            "--agent-latency-median-ms",
            "100",
            "--agent-failure-ratio",
            "0",
        ],
    )
    .await;
    wait_for(&app, "all COMPLETED", 30, |c| n(c, "COMPLETED") == 4).await;
    sigterm(&mut second).await;
}
