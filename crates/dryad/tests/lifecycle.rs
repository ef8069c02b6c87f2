//! An execution's lifecycle through the real worker pool: PENDING → RUNNING → COMPLETED, and
//! → FAILED when the agent fails.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::TestApp;
use dryad::runtime::agent::FAILURE_MESSAGE;
use dryad::runtime::{AgentConfig, AutoscaleConfig, LatencyModel, WorkerContext, pool};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn workers(app: &TestApp, failure_ratio: f64) -> WorkerContext {
    WorkerContext {
        db: app.state.db.for_workers(),
        metrics: app.state.metrics.clone(),
        wakeup: app.state.queue_wakeup.clone(),
        agent: AgentConfig {
            latency: LatencyModel::Constant(Duration::from_millis(600)),
            max_latency: Duration::from_secs(2),
            failure_ratio,
        },
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
    }
}

fn scaling() -> AutoscaleConfig {
    AutoscaleConfig {
        min: 1,
        max: 2,
        interval: Duration::from_millis(100),
        ..AutoscaleConfig::default()
    }
}

/// Polls the execution, recording every status seen, until it is final.
async fn follow(app: &TestApp, token: &str, id: &str) -> (Vec<String>, Value) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let r = app
            .get(
                &format!("/api/v1/agent-studio/executions/{id}"),
                Some(token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let status = r.json["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "COMPLETED" || status == "FAILED" {
            return (seen, r.json);
        }
        assert!(Instant::now() < deadline, "stuck; saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

async fn lifecycle(failure_ratio: f64) -> (Vec<String>, Value, TestApp) {
    let app = TestApp::new().await;
    let token = app.token().await;
    let agent = Uuid::new_v4();
    let r = app
        .post_json(
            "/api/v1/agent-studio/execute",
            Some(&token),
            &json!({"agent_id": agent, "prompt": "plan a trip to Lisbon"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.assert_server_timing();
    assert_eq!(r.json["status"], "PENDING");
    assert_eq!(r.json["agent_id"], agent.to_string());
    let id = r.json["execution_id"].as_str().unwrap().to_owned();

    // Committed before the response: visible, still PENDING, with no worker running yet.
    let before = app
        .get(
            &format!("/api/v1/agent-studio/executions/{id}"),
            Some(&token),
        )
        .await;
    assert_eq!(before.json["status"], "PENDING");

    let stop = CancellationToken::new();
    let pool = tokio::spawn(pool::supervise(
        workers(&app, failure_ratio),
        scaling(),
        stop.clone(),
    ));
    let (seen, last) = follow(&app, &token, &id).await;
    stop.cancel();
    pool.await.unwrap();
    let mut all = vec!["PENDING".to_owned()];
    all.extend(seen.into_iter().filter(|s| s != "PENDING"));
    (all, last, app)
}

#[tokio::test]
async fn pending_running_completed() {
    let (seen, e, app) = lifecycle(0.0).await;
    assert_eq!(seen, ["PENDING", "RUNNING", "COMPLETED"]);
    assert!(
        e["output_data"]["response"]
            .as_str()
            .unwrap()
            .contains("plan a trip to Lisbon")
    );
    assert_eq!(e["output_data"]["prompt_words"], 5);
    assert!(e["execution_time_ms"].as_i64().unwrap() >= 600);
    assert!(e["execution_end"].is_string());
    assert_eq!(e["error_message"], Value::Null);
    let m = app.get("/metrics", None).await;
    assert!(
        m.text
            .contains("dryad_executions_finished_total{status=\"COMPLETED\"} 1"),
        "{}",
        m.text
    );
    assert!(m.text.contains("dryad_executions_created_total 1"));
}

#[tokio::test]
async fn pending_running_failed() {
    let (seen, e, _app) = lifecycle(1.0).await;
    assert_eq!(seen, ["PENDING", "RUNNING", "FAILED"]);
    assert_eq!(e["error_message"], FAILURE_MESSAGE);
    assert_eq!(e["output_data"], Value::Null);
    assert!(e["execution_time_ms"].as_i64().unwrap() >= 600);
}
