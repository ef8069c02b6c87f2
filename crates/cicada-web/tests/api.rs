//! The control API end to end over plain HTTP: a real web server around a real session, load
//! sent to a real local server that counts its open connections.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use cicada_web::{WebError, WebOptions, bind};
use support::{counting_server, eventually, http, scenario, start_web, stream_events};

fn loopback() -> WebOptions {
    WebOptions {
        port: 0,
        ..WebOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_drives_a_whole_test() {
    let target = counting_server(Duration::from_millis(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let web = start_web(&scenario(dir.path(), &target.url), loopback()).await;
    let addr = web.addr;

    let info = http(addr, "GET", "/api/info", None, &[]).await.json();
    assert_eq!(info["state"], "waiting");
    assert_eq!(info["scenario"]["defaults"]["users"], 2);
    assert_eq!(
        http(addr, "GET", "/api/report/json", None, &[])
            .await
            .status,
        404
    );
    // Bad input is refused with a reason, and nothing starts.
    let bad = http(
        addr,
        "POST",
        "/api/start",
        Some(r#"{"users": 1, "rate": 2}"#),
        &[],
    )
    .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.json()["error"].as_str().unwrap().contains("not both"));
    let typo = http(addr, "POST", "/api/start", Some(r#"{"userz": 1}"#), &[]).await;
    assert_eq!(typo.status, 400);

    let start = http(
        addr,
        "POST",
        "/api/start",
        Some(r#"{"users": 2, "spawn_rate": 100, "run_time": "60s"}"#),
        &[],
    )
    .await;
    assert_eq!(start.status, 202, "{start:?}");
    assert_eq!(start.json()["state"], "running");
    assert_eq!(
        http(addr, "POST", "/api/start", Some("{}"), &[])
            .await
            .status,
        409,
        "one run at a time"
    );
    assert!(
        eventually(Duration::from_secs(20), || target
            .open
            .load(Ordering::SeqCst)
            == 2)
        .await,
        "two users hold two connections"
    );

    // Raise the users: the server sees more connections.
    let more = http(
        addr,
        "POST",
        "/api/users",
        Some(r#"{"users": 6, "spawn_rate": 50}"#),
        &[],
    )
    .await;
    assert_eq!(more.status, 200, "{more:?}");
    assert!(
        eventually(Duration::from_secs(20), || target
            .open
            .load(Ordering::SeqCst)
            >= 6)
        .await,
        "six users: {} connections",
        target.open.load(Ordering::SeqCst)
    );
    assert_eq!(
        http(addr, "POST", "/api/rate", Some(r#"{"rate": 5}"#), &[])
            .await
            .status,
        409,
        "a closed-model run has no rate"
    );

    // The stream: a snapshot a second, with the numbers moving.
    let events = stream_events(addr, 3).await;
    assert!(events.iter().all(|e| e["state"] == "running"));
    let first = events[0]["total_requests"].as_u64().unwrap();
    let last = events[2]["total_requests"].as_u64().unwrap();
    assert!(last > first, "requests grow from {first} to {last}");
    assert_eq!(events[2]["users"], 6);

    let snap = http(addr, "GET", "/api/snapshot?html=true", None, &[])
        .await
        .json();
    assert!(snap["rps"].as_f64().unwrap() > 0.0);
    assert!(snap["resources"]["generator_rss_bytes"].as_u64().unwrap() > 0);
    assert!(snap["resources"]["target_cpu_pct"].as_f64().is_some());
    assert!(
        snap["html"]["report"]
            .as_str()
            .unwrap()
            .contains("<table class=\"requests\">")
    );

    // Status codes and the connect/TTFB means, per row and overall: every request of this
    // target answered 200.
    let codes = &snap["status_codes"]["codes"];
    assert_eq!(codes[0]["status"], 200, "{codes}");
    assert_eq!(codes.as_array().unwrap().len(), 1, "{codes}");
    assert_eq!(
        codes[0]["count"].as_u64().unwrap() + snap["status_codes"]["no_response"].as_u64().unwrap(),
        snap["total_requests"].as_u64().unwrap()
    );
    let row = &snap["requests"][0];
    assert_eq!(row["status_codes"]["codes"][0]["status"], 200, "{row}");
    assert!(row["ttfb_mean_ms"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["connect_mean_ms"].as_f64().unwrap() > 0.0, "{row}");
    assert!(
        snap["html"]["report"]
            .as_str()
            .unwrap()
            .contains("<table class=\"status-codes\">")
    );

    // The analysis so far: the monitor's series grow during the run and the findings are
    // labelled "so far" on the page.
    let grown = |s: &serde_json::Value| {
        s["analysis"]["so_far"] == true
            && s["analysis"]["generator_samples"].as_u64().unwrap_or(0) >= 3
            && s["analysis"]["target_samples"].as_u64().unwrap_or(0) >= 3
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut snap = snap;
    while !grown(&snap) {
        assert!(
            std::time::Instant::now() < deadline,
            "no analysis so far: {}",
            snap["analysis"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        snap = http(addr, "GET", "/api/snapshot?html=true", None, &[])
            .await
            .json();
    }
    assert!(snap["analysis"]["findings"].is_array());
    let page = snap["html"]["report"].as_str().unwrap();
    assert!(
        page.contains("<h2>Resources so far</h2>"),
        "resources drawn live"
    );
    assert!(
        page.contains("<h2>Findings so far</h2>"),
        "findings drawn live"
    );

    // A partial report during the run, valid against the schema.
    let partial = http(addr, "GET", "/api/report/json", None, &[]).await;
    assert_eq!(partial.status, 200);
    assert!(
        partial
            .head
            .to_ascii_lowercase()
            .contains("content-disposition: attachment")
    );
    let validator = cicada_testkit::schema_validator();
    let report = partial.json();
    assert!(
        validator.is_valid(&report),
        "partial report fits the schema"
    );
    assert!(
        report["analysis"]["resources"]["generator"]["samples"]
            .as_array()
            .is_some_and(|s| s.len() >= 3),
        "the partial report carries the resources so far"
    );

    // Reset: the totals start again.
    let before = http(addr, "GET", "/api/snapshot", None, &[]).await.json()["total_requests"]
        .as_u64()
        .unwrap();
    assert_eq!(
        http(addr, "POST", "/api/reset", None, &[]).await.status,
        200
    );
    let after = http(addr, "GET", "/api/snapshot", None, &[]).await.json()["total_requests"]
        .as_u64()
        .unwrap();
    assert!(after < before, "reset: {after} < {before}");
    // The users go on after a reset: requests count again before the run is stopped, so the
    // final report has some (a stop right after the reset could otherwise find none yet).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = http(addr, "GET", "/api/snapshot", None, &[]).await.json()["total_requests"]
            .as_u64()
            .unwrap();
        if now > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request counted after the reset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let stop = http(addr, "POST", "/api/stop", None, &[]).await;
    assert_eq!(stop.status, 202);
    let c = web.controller.clone();
    assert!(
        eventually(Duration::from_secs(20), || c.state()
            == cicada_web::RunState::Stopped)
        .await,
        "the run stops"
    );
    assert!(
        eventually(Duration::from_secs(10), || target
            .open
            .load(Ordering::SeqCst)
            == 0)
        .await,
        "users closed their connections"
    );
    let final_report = http(addr, "GET", "/api/report/json", None, &[])
        .await
        .json();
    assert!(validator.is_valid(&final_report));
    assert!(final_report["aggregated"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(
        final_report["run"]["interrupted"], false,
        "a stop from the API is no interruption"
    );
    let done = http(addr, "GET", "/api/snapshot", None, &[]).await.json();
    assert_eq!(
        done["analysis"]["so_far"], false,
        "the final analysis once stopped"
    );
    for format in ["html", "csv", "csv-history", "csv-failures", "junit"] {
        let r = http(addr, "GET", &format!("/api/report/{format}"), None, &[]).await;
        assert_eq!(r.status, 200, "{format}");
        assert!(!r.body.is_empty(), "{format}");
    }
    assert_eq!(
        http(addr, "GET", "/api/report/pdf", None, &[]).await.status,
        404
    );

    // A new test after the stop, open model this time.
    let again = http(
        addr,
        "POST",
        "/api/start",
        Some(r#"{"rate": 20, "run_time": "30s"}"#),
        &[],
    )
    .await;
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.json()["run"], 2);
    assert_eq!(
        http(addr, "POST", "/api/rate", Some(r#"{"rate": 40}"#), &[])
            .await
            .status,
        200
    );
    let openapi = http(addr, "GET", "/api/openapi.json", None, &[])
        .await
        .json();
    for path in [
        "/api/start",
        "/api/stop",
        "/api/users",
        "/api/rate",
        "/api/reset",
        "/api/snapshot",
        "/api/stream",
        "/api/report/{format}",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} documented");
    }
    let quit = web.quit().await;
    assert_eq!(
        quit,
        cicada_web::Quit::Signal {
            interrupted_run: true
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_a_token_is_required() {
    let open = WebOptions {
        host: "0.0.0.0".into(),
        port: 0,
        ..WebOptions::default()
    };
    match bind(&open).await {
        Err(e @ WebError::TokenRequired(_)) => {
            assert!(e.to_string().contains("--web-auth-token"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let target = counting_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let guarded = WebOptions {
        auth_token: Some("t0ken".into()),
        ..open
    };
    let web = start_web(&scenario(dir.path(), &target.url), guarded).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], web.addr.port()));
    let denied = http(addr, "GET", "/api/info", None, &[]).await;
    assert_eq!(denied.status, 401);
    assert!(
        denied.head.contains("WWW-Authenticate: Basic")
            || denied
                .head
                .to_ascii_lowercase()
                .contains("www-authenticate: basic")
    );
    assert_eq!(
        http(addr, "GET", "/", None, &[]).await.status,
        401,
        "the page too"
    );
    let wrong = http(
        addr,
        "GET",
        "/api/info",
        None,
        &[("Authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(wrong.status, 401);
    let ok = http(
        addr,
        "GET",
        "/api/info",
        None,
        &[("Authorization", "Bearer t0ken")],
    )
    .await;
    assert_eq!(ok.status, 200);
    // Basic, as a browser sends it: any user name, the token as the password.
    let page = http(
        addr,
        "GET",
        "/",
        None,
        &[("Authorization", "Basic dXNlcjp0MGtlbg==")],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("t0ken"),
        "the page never echoes the token"
    );
    assert_eq!(
        web.quit().await,
        cicada_web::Quit::Signal {
            interrupted_run: false
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_runs_at_once_and_autoquit_ends_the_server() {
    let target = counting_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), &target.url);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("run_time = \"60s\"", "run_time = \"2s\"");
    std::fs::write(&path, text).unwrap();
    let options = WebOptions {
        autostart: true,
        autoquit: Some(Duration::from_secs(1)),
        ..loopback()
    };
    let web = start_web(&path, options).await;
    let served = tokio::time::timeout(Duration::from_secs(60), web.served)
        .await
        .expect("autoquit ended the server")
        .unwrap()
        .unwrap();
    assert_eq!(served, cicada_web::Quit::Autoquit);
    assert_eq!(web.controller.run_number(), 1);
    assert_eq!(web.controller.exit_code(), Some(0));
    let report = web.controller.report().unwrap();
    assert!(report.aggregated.requests > 0);
}
