//! `Idempotency-Key` on `POST /api/v1/agent-studio/execute` against the real `dryad serve`, on
//! the backend `DATABASE_URL` selects: concurrent duplicates make one execution, a replay
//! returns the first, another body is 422, a bad key 400, keys expire and are purged.

mod common;

use std::time::Duration;

use common::TestApp;
use common::server::{self, LOCAL, RawReply, request_from, sample};
use serde_json::{Value, json};
use uuid::Uuid;

async fn token(addr: &str, username: &str, password: &str) -> String {
    let body = json!({"username": username, "password": password});
    let r = request_from(LOCAL, addr, "POST", "/api/v1/auth/login", &[], Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

async fn execute(addr: &str, token: &str, key: Option<&str>, body: &Value) -> RawReply {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    request_from(
        LOCAL,
        addr,
        "POST",
        "/api/v1/agent-studio/execute",
        &headers,
        Some(body),
    )
    .await
}

async fn executions_of(app: &TestApp, agent: Uuid) -> i64 {
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM executions WHERE agent_id = $1")
        .bind(agent.to_string())
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn fifty_concurrent_executes_with_one_key_create_one_execution() {
    let app = TestApp::new().await;
    app.create_user("other", "other-pw").await;
    let srv = server::start(&app.db.url, &["--agent-latency-median-ms", "20"]).await;
    let tok = token(&srv.addr, "loadtest", "test123").await;
    let agent = Uuid::new_v4();
    let body = json!({"agent_id": agent, "prompt": "once only"});
    let key = "\"retry-me-7f3a\"";

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (addr, tok, body) = (srv.addr.clone(), tok.clone(), body.clone());
            tokio::spawn(async move { execute(&addr, &tok, Some(key), &body).await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut replayed = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "PENDING");
        if r.header("idempotent-replayed") == Some("true") {
            replayed += 1;
        }
        ids.push(r.json()["execution_id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one execution for one key: {ids:?}");
    assert_eq!(replayed, 49);
    assert_eq!(executions_of(&app, agent).await, 1);

    // A later retry (bare form of the same key) gets the first execution, byte for byte.
    let first = execute(&srv.addr, &tok, Some(key), &body).await;
    let again = execute(&srv.addr, &tok, Some("retry-me-7f3a"), &body).await;
    assert_eq!(first.body, again.body);
    assert_eq!(first.json()["execution_id"], ids[0].as_str());

    // The same key with another body: 422 in the JSON error shape, nothing created.
    let other_body = json!({"agent_id": agent, "prompt": "something else"});
    let r = execute(&srv.addr, &tok, Some(key), &other_body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"], "idempotency_key_reused");
    assert_eq!(executions_of(&app, agent).await, 1);

    // Keys are per user: another user's identical key is a new execution.
    let other_tok = token(&srv.addr, "other", "other-pw").await;
    let r = execute(&srv.addr, &other_tok, Some(key), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.json()["execution_id"], ids[0].as_str());
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(executions_of(&app, agent).await, 2);

    // Without a key every request is a new execution, as before.
    for _ in 0..2 {
        assert_eq!(execute(&srv.addr, &tok, None, &body).await.status, 200);
    }
    assert_eq!(executions_of(&app, agent).await, 4);

    let m = server::metrics(&srv.addr).await;
    assert_eq!(
        sample(&m, "dryad_idempotent_executes_total{outcome=\"new\"}"),
        2.0
    );
    assert_eq!(
        sample(&m, "dryad_idempotent_executes_total{outcome=\"replayed\"}"),
        51.0
    );
    assert_eq!(
        sample(&m, "dryad_idempotent_executes_total{outcome=\"mismatch\"}"),
        1.0
    );
}

#[tokio::test]
async fn malformed_keys_are_400() {
    let app = TestApp::new().await;
    let srv = server::start(&app.db.url, &[]).await;
    let tok = token(&srv.addr, "loadtest", "test123").await;
    let body = json!({"agent_id": Uuid::new_v4(), "prompt": "p"});
    let long = "k".repeat(256);
    for key in ["\"\"", "two words", "\"back\\\\slash\"", long.as_str()] {
        let r = execute(&srv.addr, &tok, Some(key), &body).await;
        assert_eq!(r.status, 400, "{key:?}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_idempotency_key", "{key:?}");
    }
    let max = "k".repeat(255);
    assert_eq!(
        execute(&srv.addr, &tok, Some(&max), &body).await.status,
        200
    );
}

#[tokio::test]
async fn a_key_past_its_window_starts_a_new_execution_and_is_purged() {
    let app = TestApp::new().await;
    let srv = server::start(&app.db.url, &["--idempotency-window-secs", "1"]).await;
    let tok = token(&srv.addr, "loadtest", "test123").await;
    let agent = Uuid::new_v4();
    let body = json!({"agent_id": agent, "prompt": "p"});
    let first = execute(&srv.addr, &tok, Some("k1"), &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = execute(&srv.addr, &tok, Some("k1"), &body).await;
    assert_eq!(later.status, 200, "{}", later.body);
    assert_ne!(first.json()["execution_id"], later.json()["execution_id"]);
    assert_eq!(executions_of(&app, agent).await, 2);
    // The purge (once a second with this window) deletes the expired key.
    let mut purged = 0.0;
    for _ in 0..100 {
        let m = server::metrics(&srv.addr).await;
        purged = sample(&m, "dryad_idempotency_keys_purged_total");
        if purged >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(purged >= 1.0, "no key purged");
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(left <= 1, "{left} keys left");
}
