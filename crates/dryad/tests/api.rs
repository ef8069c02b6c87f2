//! The API suite, in-process through `app(state).oneshot(..)`. Runs on SQLite by default and
//! on PostgreSQL when `DATABASE_URL=postgres://…` (a fresh database per test).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::{SECRET, TestApp};
use dryad::auth::{Claims, TokenKeys};
use serde_json::json;
use uuid::Uuid;

const LOGIN: &str = "/api/v1/auth/login";
const EXECUTE: &str = "/api/v1/agent-studio/execute";

fn list_path(agent: Uuid, query: &str) -> String {
    format!("/api/v1/agent-studio/agents/{agent}/executions{query}")
}

#[tokio::test]
async fn health_ready_metrics_and_openapi() {
    let app = TestApp::new().await;
    let r = app.get("/health", None).await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    r.assert_server_timing();
    let r = app.get("/ready", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.assert_server_timing();
    assert!(
        r.headers["server-timing"]
            .to_str()
            .unwrap()
            .starts_with("pool;dur="),
        "{:?}",
        r.headers
    );

    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for name in [
        "dryad_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "dryad_http_request_duration_seconds_bucket{method=\"GET\",route=\"/ready\",status=\"200\",le=\"0.2\"} 1",
        "dryad_http_requests_in_flight",
        "dryad_db_pool_max_connections{pool=\"api\"} 4",
        "dryad_db_pool_max_connections{pool=\"worker\"} 2",
        "dryad_db_pool_connections{pool=\"api\",state=\"idle\"}",
        "dryad_db_pool_connections{pool=\"worker\",state=\"in_use\"}",
        "dryad_db_pool_acquire_wait_seconds_bucket{pool=\"api\",le=",
        "dryad_db_pool_acquire_wait_seconds_count{pool=\"worker\"}",
        "dryad_queue_depth",
        "dryad_workers_busy",
        "dryad_workers_current",
        "dryad_workers_desired",
        "dryad_executions_finished_total{status=\"COMPLETED\"}",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(r.text.contains(name), "missing {name}");
    }

    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        LOGIN,
        EXECUTE,
        "/api/v1/agent-studio/executions/{execution_id}",
        "/api/v1/agent-studio/agents/{agent_id}/executions",
        "/api/v1/agent-studio/agents/{agent_id}/metrics",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(
            r.json["paths"][path].is_object(),
            "{path} missing from the spec"
        );
    }
    assert!(r.json["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn login_success_and_uniform_failure() {
    let app = TestApp::new().await;
    let r = app
        .post_json(
            LOGIN,
            None,
            &json!({"username": "loadtest", "password": "test123"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["token_type"], "bearer");
    assert_eq!(r.json["expires_in"], 600);
    let token = r.json["access_token"].as_str().unwrap();
    let claims = TokenKeys::new(SECRET, Duration::from_secs(1))
        .verify(token)
        .unwrap();
    assert_eq!(claims.name, "loadtest");

    let wrong = app
        .post_json(
            LOGIN,
            None,
            &json!({"username": "loadtest", "password": "nope"}),
        )
        .await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let unknown = app
        .post_json(
            LOGIN,
            None,
            &json!({"username": "nobody", "password": "test123"}),
        )
        .await;
    unknown.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(
        wrong.json, unknown.json,
        "unknown user and wrong password must look alike"
    );

    let m = app.get("/metrics", None).await;
    assert!(m.text.contains("dryad_logins_total{outcome=\"success\"} 1"));
    assert!(m.text.contains("dryad_logins_total{outcome=\"failure\"} 2"));
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn every_token_failure_is_401() {
    let app = TestApp::new().await;
    let good = app.token().await;
    let path = list_path(Uuid::new_v4(), "");
    assert_eq!(app.get(&path, Some(&good)).await.status, StatusCode::OK);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let keys = TokenKeys::new(SECRET, Duration::from_secs(600));
    let expired = keys
        .sign(&Claims {
            sub: "u".into(),
            name: "loadtest".into(),
            iat: now - 700,
            exp: now - 100,
        })
        .unwrap();
    let forged = TokenKeys::new(b"someone-else", Duration::from_secs(600))
        .issue("u", "loadtest")
        .unwrap();
    let payload = b64(&format!(
        r#"{{"sub":"u","name":"loadtest","iat":{now},"exp":{}}}"#,
        now + 600
    ));
    let alg_none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    let mut tampered = good.clone();
    tampered.push('x');

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing_token"),
        (
            "wrong scheme",
            Some(format!("Token {good}")),
            "invalid_token",
        ),
        ("no token", Some("Bearer ".into()), "invalid_token"),
        (
            "malformed",
            Some("Bearer not-a-jwt".into()),
            "invalid_token",
        ),
        (
            "three junk parts",
            Some("Bearer a.b.c".into()),
            "invalid_token",
        ),
        ("forged", Some(format!("Bearer {forged}")), "invalid_token"),
        (
            "tampered",
            Some(format!("Bearer {tampered}")),
            "invalid_token",
        ),
        (
            "alg none",
            Some(format!("Bearer {alg_none}")),
            "invalid_token",
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            "token_expired",
        ),
    ];
    for (name, header, code) in cases {
        let mut b = Request::get(&path);
        if let Some(h) = header {
            b = b.header("authorization", h);
        }
        let r = app.send(b.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.text);
        r.assert_error(StatusCode::UNAUTHORIZED, code);
        assert_eq!(r.headers["www-authenticate"], "Bearer", "{name}");
    }
}

#[tokio::test]
async fn listing_pages_newest_first_and_filters_by_status() {
    let app = TestApp::new().await;
    let token = app.token().await;
    let agent = Uuid::new_v4();
    let other = Uuid::new_v4();
    let statuses = [
        "COMPLETED",
        "FAILED",
        "COMPLETED",
        "CANCELLED",
        "COMPLETED",
        "FAILED",
        "COMPLETED",
    ];
    let mut ids = Vec::new();
    for (i, s) in statuses.iter().enumerate() {
        let start = 1_700_000_000_000 + i64::try_from(i).unwrap() * 60_000;
        ids.push(app.insert_execution(agent, s, start, Some(100)).await);
    }
    app.insert_execution(other, "COMPLETED", 1_800_000_000_000, Some(5))
        .await;
    let newest_first: Vec<String> = ids.iter().rev().map(ToString::to_string).collect();

    let r = app
        .get(&list_path(agent, "?limit=3&offset=0"), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.assert_server_timing();
    assert_eq!(
        (
            r.json["total"].as_i64(),
            r.json["limit"].as_i64(),
            r.json["offset"].as_i64()
        ),
        (Some(7), Some(3), Some(0))
    );
    let got: Vec<&str> = r.json["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, newest_first[..3]);

    let r = app
        .get(&list_path(agent, "?limit=3&offset=6"), Some(&token))
        .await;
    let got: Vec<&str> = r.json["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, newest_first[6..]);

    let r = app.get(&list_path(agent, ""), Some(&token)).await;
    assert_eq!(r.json["limit"], 50);
    assert_eq!(r.json["executions"].as_array().unwrap().len(), 7);

    let r = app
        .get(&list_path(agent, "?status=FAILED"), Some(&token))
        .await;
    assert_eq!(r.json["total"], 2);
    let got: Vec<&str> = r.json["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[5].to_string(), ids[1].to_string()]);
    assert!(
        r.json["executions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "FAILED")
    );

    let r = app
        .get(
            &list_path(agent, "?status=COMPLETED&limit=1&offset=1"),
            Some(&token),
        )
        .await;
    assert_eq!(r.json["total"], 4);
    assert_eq!(r.json["executions"][0]["id"], ids[4].to_string());

    let r = app.get(&list_path(Uuid::new_v4(), ""), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["total"], 0);
    assert_eq!(r.json["executions"], json!([]));
}

#[tokio::test]
async fn metrics_maths_on_a_known_fixture() {
    let app = TestApp::new().await;
    let token = app.token().await;
    let agent = Uuid::new_v4();
    // COMPLETED 100..=1000 ms (10 rows), one FAILED at 50 ms, one CANCELLED, one PENDING.
    for i in 1..=10i64 {
        app.insert_execution(agent, "COMPLETED", 1_700_000_000_000 + i, Some(i * 100))
            .await;
    }
    app.insert_execution(agent, "FAILED", 1_700_000_000_100, Some(50))
        .await;
    app.insert_execution(agent, "CANCELLED", 1_700_000_000_200, None)
        .await;
    app.insert_execution(agent, "PENDING", 1_700_000_000_300, None)
        .await;
    app.insert_execution(Uuid::new_v4(), "COMPLETED", 1_900_000_000_000, Some(99_999))
        .await;

    let r = app
        .get(
            &format!("/api/v1/agent-studio/agents/{agent}/metrics"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.assert_server_timing();
    let m = &r.json;
    assert_eq!(m["agent_id"], agent.to_string());
    assert_eq!(m["total_executions"], 13);
    assert_eq!(
        m["by_status"],
        json!({"PENDING": 1, "RUNNING": 0, "COMPLETED": 10, "FAILED": 1, "CANCELLED": 1})
    );
    // 10 completed of 12 finished.
    assert!((m["success_rate"].as_f64().unwrap() - 10.0 / 12.0).abs() < 1e-9);
    // 11 timed values: 50, 100, 200, …, 1000; sum 5550.
    assert!((m["avg_execution_time_ms"].as_f64().unwrap() - 5550.0 / 11.0).abs() < 1e-9);
    // Nearest rank: p50 = 6th of 11 = 500; p95 = ceil(10.45) = 11th = 1000.
    assert_eq!(m["p50_execution_time_ms"], 500);
    assert_eq!(m["p95_execution_time_ms"], 1000);
    assert_eq!(m["last_execution_at"], "2023-11-14T22:13:20.300Z");

    let r = app
        .get(
            &format!("/api/v1/agent-studio/agents/{}/metrics", Uuid::new_v4()),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["total_executions"], 0);
    assert_eq!(r.json["success_rate"], 0.0);
    assert_eq!(r.json["avg_execution_time_ms"], json!(null));
    assert_eq!(r.json["p50_execution_time_ms"], json!(null));
    assert_eq!(r.json["p95_execution_time_ms"], json!(null));
    assert_eq!(r.json["last_execution_at"], json!(null));
    assert_eq!(r.json["by_status"]["COMPLETED"], 0);
}

#[tokio::test]
async fn get_execution_and_404() {
    let app = TestApp::new().await;
    let token = app.token().await;
    let agent = Uuid::new_v4();
    let id = app
        .insert_execution(agent, "COMPLETED", 1_700_000_000_000, Some(42))
        .await;
    let r = app
        .get(
            &format!("/api/v1/agent-studio/executions/{id}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], id.to_string());
    assert_eq!(r.json["agent_id"], agent.to_string());
    assert_eq!(r.json["execution_time_ms"], 42);
    assert_eq!(r.json["input_data"], json!({"prompt": "fixture"}));
    let r = app
        .get(
            &format!("/api/v1/agent-studio/executions/{}", Uuid::new_v4()),
            Some(&token),
        )
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// (name, method, path, content-type, body, expected status, expected code)
type BadCase = (
    &'static str,
    &'static str,
    String,
    Option<&'static str>,
    String,
    StatusCode,
    &'static str,
);

#[tokio::test]
async fn bad_inputs_are_4xx_json_never_5xx() {
    let app = TestApp::new().await;
    let token = app.token().await;
    let agent = Uuid::new_v4();
    let big_prompt = "x".repeat(70 * 1024);

    // (name, method, path, content-type, body, expected status, expected code)
    let raw: Vec<BadCase> = vec![
        (
            "login: broken JSON",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            "{".into(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "login: missing password",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            r#"{"username":"a"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "login: wrong type",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            r#"{"username":1,"password":"x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "login: not JSON content type",
            "POST",
            LOGIN.into(),
            Some("text/plain"),
            r#"{"username":"a","password":"b"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "login: no content type",
            "POST",
            LOGIN.into(),
            None,
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "execute: malformed agent id",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            r#"{"agent_id":"not-a-uuid","prompt":"hi"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "execute: missing prompt",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            format!(r#"{{"agent_id":"{agent}"}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "execute: prompt wrong type",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            format!(r#"{{"agent_id":"{agent}","prompt":42}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "execute: empty prompt",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            format!(r#"{{"agent_id":"{agent}","prompt":"  "}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "execute: prompt of tabs and line breaks only",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            format!(r#"{{"agent_id":"{agent}","prompt":"\t\n\u000b\f\r "}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "execute: prompt over 10,000 characters",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            format!(
                r#"{{"agent_id":"{agent}","prompt":"{}"}}"#,
                "é".repeat(10_001)
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "login: NUL in the username",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            r#"{"username":"\u0000","password":"x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "login: NUL inside the username",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            r#"{"username":"load\u0000test","password":"test123"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "login: username over 256 characters",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            format!(r#"{{"username":"{}","password":"x"}}"#, "u".repeat(257)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "login: lone surrogate",
            "POST",
            LOGIN.into(),
            Some("application/json"),
            r#"{"username":"\ud800","password":"x"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "execute: JSON array",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            "[]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "execute: body over 64 KiB",
            "POST",
            EXECUTE.into(),
            Some("application/json"),
            format!(r#"{{"agent_id":"{agent}","prompt":"{big_prompt}"}}"#),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "get: malformed id",
            "GET",
            "/api/v1/agent-studio/executions/123".into(),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "list: malformed agent",
            "GET",
            "/api/v1/agent-studio/agents/zzz/executions".into(),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "list: limit 0",
            "GET",
            list_path(agent, "?limit=0"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "list: limit 101",
            "GET",
            list_path(agent, "?limit=101"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "list: limit not a number",
            "GET",
            list_path(agent, "?limit=ten"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "list: limit overflows",
            "GET",
            list_path(agent, "?limit=99999999999999999999999"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "list: negative offset",
            "GET",
            list_path(agent, "?offset=-1"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "list: unknown status",
            "GET",
            list_path(agent, "?status=DONE"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "list: lower-case status",
            "GET",
            list_path(agent, "?status=completed"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "metrics: malformed agent",
            "GET",
            "/api/v1/agent-studio/agents/1-2-3/metrics".into(),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "unknown route",
            "GET",
            "/api/v1/nope".into(),
            None,
            String::new(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            "GET",
            LOGIN.into(),
            None,
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (name, method, path, ctype, body, status, code) in raw {
        let mut b = Request::builder()
            .method(method)
            .uri(&path)
            .header("authorization", format!("Bearer {token}"));
        if let Some(ct) = ctype {
            b = b.header("content-type", ct);
        }
        let r = app.send(b.body(Body::from(body)).unwrap()).await;
        assert!(
            r.status.is_client_error(),
            "{name}: {} {}",
            r.status,
            r.text
        );
        assert_eq!(r.status, status, "{name}: {}", r.text);
        assert_eq!(r.json["error"].as_str(), Some(code), "{name}: {}", r.text);
        r.assert_error(status, code);
    }
    // Nothing above reached the database as an execution.
    let r = app.get(&list_path(agent, ""), Some(&token)).await;
    assert_eq!(r.json["total"], 0);
}

/// A prompt may hold a NUL and any Unicode: it is stored as JSON text (`\u0000` escaped), which
/// both backends keep; a Unicode space counts as content (only ASCII whitespace is "empty").
#[tokio::test]
async fn prompt_with_nul_and_unicode_is_stored_and_read_back() {
    let app = TestApp::new().await;
    let token = app.token().await;
    let agent = Uuid::new_v4();
    for prompt in ["a\u{0}b", "\u{3000}", "\u{1F600} plan"] {
        let r = app
            .post_json(
                EXECUTE,
                Some(&token),
                &json!({"agent_id": agent, "prompt": prompt}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{prompt:?}: {}", r.text);
        let id = r.json["execution_id"].as_str().unwrap();
        let e = app
            .get(
                &format!("/api/v1/agent-studio/executions/{id}"),
                Some(&token),
            )
            .await;
        assert_eq!(e.status, StatusCode::OK, "{}", e.text);
        assert_eq!(e.json["input_data"]["prompt"], prompt);
    }
}

/// issue 11: a head over the limits is 431 with the JSON error body (hyper's own 431 has none).
#[tokio::test]
async fn oversized_heads_are_431_json() {
    use dryad::api::limits::{MAX_HEADER_BYTES, MAX_HEADERS};
    let app = TestApp::new().await;
    let mut many = Request::get("/health");
    for i in 0..=MAX_HEADERS {
        many = many.header(format!("x-h{i}"), "v");
    }
    let r = app.send(many.body(Body::empty()).unwrap()).await;
    r.assert_error(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );
    assert!(r.json["detail"].as_str().unwrap().contains("header fields"));

    let big = "v".repeat(MAX_HEADER_BYTES);
    let r = app
        .send(
            Request::get("/health")
                .header("x-big", big)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.assert_error(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );

    // Just under both limits: served.
    let mut fine = Request::get("/health");
    for i in 0..MAX_HEADERS {
        fine = fine.header(format!("x-h{i}"), "v");
    }
    assert_eq!(
        app.send(fine.body(Body::empty()).unwrap()).await.status,
        StatusCode::OK
    );
}

/// The served OpenAPI document states what the server enforces: every status a route can
/// answer, each with the JSON error schema, and the bounds of every parameter and field.
#[tokio::test]
async fn openapi_documents_every_status_and_bound() {
    use dryad::api::studio::MAX_LIMIT;
    use dryad::model::{MAX_PASSWORD_CHARS, MAX_PROMPT_CHARS, MAX_USERNAME_CHARS};
    let app = TestApp::new().await;
    let spec = app.get("/api/v1/openapi.json", None).await.json;
    let studio = "/api/v1/agent-studio";
    let expect: [(&str, &str, &[&str]); 9] = [
        (
            "post",
            LOGIN,
            &[
                "200", "400", "401", "408", "413", "415", "422", "429", "431", "500", "503",
            ],
        ),
        (
            "post",
            EXECUTE,
            &[
                "200", "400", "401", "408", "413", "415", "422", "431", "500", "503",
            ],
        ),
        (
            "get",
            "/api/v1/agent-studio/executions/{execution_id}",
            &["200", "400", "401", "404", "431", "500", "503"],
        ),
        (
            "get",
            "/api/v1/agent-studio/agents/{agent_id}/executions",
            &["200", "400", "401", "431", "500", "503"],
        ),
        (
            "get",
            "/api/v1/agent-studio/agents/{agent_id}/metrics",
            &["200", "400", "401", "431", "500", "503"],
        ),
        ("get", "/health", &["200", "431", "500"]),
        ("get", "/ready", &["200", "431", "500", "503"]),
        ("get", "/metrics", &["200", "431", "500"]),
        ("get", "/api/v1/openapi.json", &["200", "431", "500"]),
    ];
    for (method, path, statuses) in expect {
        assert!(
            path == LOGIN || path == EXECUTE || !path.starts_with(studio) || path.contains('{')
        );
        let responses = spec["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} missing"));
        let mut got: Vec<&str> = responses.keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, statuses, "{method} {path}");
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    let params =
        &spec["paths"]["/api/v1/agent-studio/agents/{agent_id}/executions"]["get"]["parameters"];
    let param = |name: &str| {
        params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .clone()
    };
    assert_eq!(param("limit")["schema"]["minimum"], 1);
    assert_eq!(param("limit")["schema"]["maximum"], MAX_LIMIT);
    assert_eq!(param("offset")["schema"]["minimum"], 0);
    assert_eq!(param("offset")["schema"]["maximum"], i64::MAX);
    let schemas = &spec["components"]["schemas"];
    let login = &schemas["LoginRequest"]["properties"];
    assert_eq!(login["username"]["maxLength"], MAX_USERNAME_CHARS);
    assert_eq!(login["username"]["pattern"], "^[^\\u0000]*$");
    assert_eq!(login["password"]["maxLength"], MAX_PASSWORD_CHARS);
    let prompt = &schemas["ExecuteRequest"]["properties"]["prompt"];
    assert_eq!(prompt["minLength"], 1);
    assert_eq!(prompt["maxLength"], MAX_PROMPT_CHARS);
    assert_eq!(prompt["pattern"], "[^\\u0009-\\u000d\\u0020]");
    // Throttled logins say when to come back.
    for status in ["429", "503"] {
        let headers = &spec["paths"][LOGIN]["post"]["responses"][status]["headers"];
        assert_eq!(
            headers["Retry-After"]["schema"]["type"], "integer",
            "{status}: {headers}"
        );
    }
    // The Idempotency-Key header, with the syntax the server enforces.
    let key = spec["paths"][EXECUTE]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("Idempotency-Key documented")
        .clone();
    assert_eq!(key["in"], "header");
    assert_eq!(key["required"], false);
    assert_eq!(key["schema"]["pattern"], dryad::api::idempotency::PATTERN);
}
