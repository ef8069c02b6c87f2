//! The planted faults (`dryad serve --fault`) against the real binary on 127.0.0.1:0: each one
//! does what `--help` says, visibly from outside (latency, CPU seconds, RSS, query plans, lock
//! waits, exit codes), and none is active by default.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::TestApp;
use common::server::{RawReply, Server, request, sample, start};
use dryad::db::{Db, PoolSizes};
use dryad::fault::KINDS;
use dryad::fault::schema::{HISTORY_INDEXES, index_exists};
use dryad::metrics::Metrics;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

const HISTORY: &str = "/api/v1/agent-studio/agents/{agent_id}/executions";

async fn get(addr: &str, path: &str, token: Option<&str>) -> RawReply {
    request(addr, "GET", path, token, None).await
}

async fn login(addr: &str) -> String {
    let r = request(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"username": "loadtest", "password": "test123"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

async fn metrics(addr: &str) -> String {
    let r = get(addr, "/metrics", None).await;
    assert_eq!(r.status, 200);
    r.body
}

/// Resident set of the process, bytes, from /proc.
fn rss_bytes(server: &Server) -> u64 {
    let pid = server.child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn app_ms(r: &RawReply) -> f64 {
    let timing = r.header("server-timing").expect("Server-Timing");
    timing
        .split(',')
        .find_map(|p| p.trim().strip_prefix("app;dur="))
        .and_then(|v| v.parse().ok())
        .expect("app;dur")
}

#[tokio::test]
async fn no_fault_is_active_by_default() {
    let app = TestApp::new().await;
    let server = start(&app.db.url, &[]).await;
    let text = metrics(&server.addr).await;
    for kind in KINDS {
        assert_eq!(
            sample(&text, &format!("dryad_fault_active{{kind=\"{kind}\"}}")),
            0.0,
            "{kind}"
        );
    }
    assert_eq!(sample(&text, "dryad_fault_leaked_bytes"), 0.0);
    // The history indexes are there.
    for (name, _) in HISTORY_INDEXES {
        assert!(index_exists(&app.state.db, name).await.unwrap(), "{name}");
    }
}

#[tokio::test]
async fn help_names_and_explains_every_fault() {
    let out = Command::new(env!("CARGO_BIN_EXE_dryad"))
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--fault <SPEC>",
        "latency:route=ROUTE,ms=N",
        "cpu:route=ROUTE,ms=N",
        "leak:route=ROUTE,bytes=N",
        "cache:route=ROUTE,bytes=N,max-mb=M",
        "missing-index",
        "write-lock:ms=N",
        "crash:after-requests=N | crash:after-secs=T",
        "off by default",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in\n{help}");
    }
}

#[tokio::test]
async fn bad_fault_specs_are_refused_at_start_with_the_reason() {
    for (spec, needle) in [
        ("slow", "unknown fault kind \"slow\""),
        (
            "latency:route=/api/v1/nope,ms=5",
            "no route \"/api/v1/nope\"",
        ),
        ("latency:route=/health", "needs ms=<milliseconds>"),
        ("crash:after-requests=0", "after-requests"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dryad"))
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url"])
            .arg("sqlite::memory:")
            .args(["--fault", spec])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{spec} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--fault"), "{spec}: {err}");
        assert!(err.contains(needle), "{spec}: {err}");
        assert!(out.stdout.is_empty(), "{spec}: it listened");
    }
}

#[tokio::test]
async fn latency_slows_only_its_route_and_is_logged_and_exported() {
    let app = TestApp::new().await;
    let spec = format!("latency:route={HISTORY},ms=300");
    // Started by hand to read its log.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dryad"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &app.db.url,
        ])
        .args(["--fault", &spec])
        .env("DRYAD_JWT_SECRET", common::server::SERVER_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = line
        .strip_prefix("dryad listening on http://")
        .unwrap()
        .to_owned();
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.contains("planted fault(s) active") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), stderr.next_line()).await {
            Ok(Ok(Some(l))) => {
                log.push_str(&l);
                log.push('\n');
            }
            Ok(_) => break,
            Err(_) => {}
        }
    }
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("FAULT PLANTED"), "{log}");
    assert!(log.contains(&spec), "{log}");
    assert!(log.contains("1 planted fault(s) active"), "{log}");

    let token = login(&addr).await;
    let agent = uuid::Uuid::new_v4();
    let path = format!("/api/v1/agent-studio/agents/{agent}/executions");
    let t = Instant::now();
    let slow = get(&addr, &path, Some(&token)).await;
    assert_eq!(slow.status, 200, "{}", slow.body);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(app_ms(&slow) >= 300.0, "{:?}", slow.header("server-timing"));
    // Another route of the same service is not slowed.
    let fast = get(
        &addr,
        &format!("/api/v1/agent-studio/agents/{agent}/metrics"),
        Some(&token),
    )
    .await;
    assert_eq!(fast.status, 200);
    assert!(app_ms(&fast) < 250.0, "{:?}", fast.header("server-timing"));

    let text = metrics(&addr).await;
    assert_eq!(sample(&text, "dryad_fault_active{kind=\"latency\"}"), 1.0);
    assert_eq!(sample(&text, "dryad_fault_active{kind=\"cpu\"}"), 0.0);
}

#[tokio::test]
async fn cpu_fault_burns_cpu_seconds_of_the_process() {
    let app = TestApp::new().await;
    let server = start(&app.db.url, &["--fault", "cpu:route=/health,ms=100"]).await;
    let before = sample(&metrics(&server.addr).await, "process_cpu_seconds_total");
    for _ in 0..8 {
        let r = get(&server.addr, "/health", None).await;
        assert_eq!(r.status, 200);
        assert!(app_ms(&r) >= 100.0, "{:?}", r.header("server-timing"));
    }
    let after = sample(&metrics(&server.addr).await, "process_cpu_seconds_total");
    // 8 × 100 ms of CPU time (the counter has a 10 ms tick).
    assert!(after - before >= 0.78, "CPU {before} -> {after}");
    // /ready is another route: no CPU burnt there.
    let t = Instant::now();
    assert_eq!(get(&server.addr, "/ready", None).await.status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn leak_grows_without_bound_while_the_cache_levels_off() {
    const MIB: u64 = 1024 * 1024;
    let app = TestApp::new().await;
    let server = start(
        &app.db.url,
        &[
            "--fault",
            "leak:route=/health,bytes=1048576",
            "--fault",
            "cache:route=/ready,bytes=1048576,max-mb=16",
        ],
    )
    .await;
    async fn hit(addr: &str, path: &str, n: usize) {
        for _ in 0..n {
            assert_eq!(get(addr, path, None).await.status, 200);
        }
    }
    // The cache fills to its bound first...
    hit(&server.addr, "/ready", 30).await;
    let filled = rss_bytes(&server);
    // ...then 50 more cached MiB cost (almost) nothing more.
    hit(&server.addr, "/ready", 50).await;
    let cached = rss_bytes(&server);
    let text = metrics(&server.addr).await;
    assert_eq!(sample(&text, "dryad_fault_cache_bytes"), (16 * MIB) as f64);
    assert!(
        cached < filled + 8 * MIB,
        "the cache kept growing: {filled} -> {cached} bytes"
    );
    // 50 leaked MiB stay resident.
    hit(&server.addr, "/health", 50).await;
    let leaked = rss_bytes(&server);
    assert!(
        leaked >= cached + 45 * MIB,
        "the leak did not grow RSS: {cached} -> {leaked} bytes"
    );
    let text = metrics(&server.addr).await;
    assert_eq!(sample(&text, "dryad_fault_leaked_bytes"), (50 * MIB) as f64);
    assert_eq!(sample(&text, "dryad_fault_active{kind=\"leak\"}"), 1.0);
    assert_eq!(sample(&text, "dryad_fault_active{kind=\"cache\"}"), 1.0);
}

/// The query plan of the history listing, on SQLite.
async fn history_plan(db: &Db) -> String {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT id FROM executions WHERE agent_id = $1 \
         ORDER BY execution_start DESC, id DESC LIMIT 50",
    )
    .bind(uuid::Uuid::nil().to_string())
    .fetch_all(db.pool())
    .await
    .unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn missing_index_makes_the_history_scan_and_a_normal_start_restores_it() {
    let app = TestApp::new().await;
    let sqlite = app.db.url.starts_with("sqlite");
    let seeded = Command::new(env!("CARGO_BIN_EXE_dryad"))
        .args(["seed", "--database-url", &app.db.url])
        .args(["--agents", "20", "--executions-per-agent", "50"])
        .args(["--argon2-memory-kib", "8", "--argon2-iterations", "1"])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(seeded.status.success(), "{seeded:?}");
    let db = Db::connect(
        &app.db.url,
        PoolSizes { api: 1, worker: 1 },
        std::sync::Arc::new(Metrics::new()),
    )
    .await
    .unwrap();
    if sqlite {
        let plan = history_plan(&db).await;
        assert!(plan.contains("INDEX executions_agent_start"), "{plan}");
    }

    let server = start(&app.db.url, &["--fault", "missing-index"]).await;
    // It prints its address before the start-up work; once it answers, that work is done.
    assert_eq!(get(&server.addr, "/health", None).await.status, 200);
    for (name, _) in HISTORY_INDEXES {
        assert!(
            !index_exists(&db, name).await.unwrap(),
            "{name} still there"
        );
    }
    if sqlite {
        let plan = history_plan(&db).await;
        assert!(plan.contains("SCAN executions"), "{plan}");
        assert!(!plan.contains("INDEX executions_agent_"), "{plan}");
    }
    // Still correct, only slower: the history of a seeded agent pages as before.
    let token = login(&server.addr).await;
    let (agent,): (String,) = sqlx::query_as("SELECT agent_id FROM executions LIMIT 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let page = get(
        &server.addr,
        &format!("/api/v1/agent-studio/agents/{agent}/executions?limit=10"),
        Some(&token),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["total"], 50);
    assert_eq!(page.json()["executions"].as_array().unwrap().len(), 10);
    let text = metrics(&server.addr).await;
    assert_eq!(
        sample(&text, "dryad_fault_active{kind=\"missing-index\"}"),
        1.0
    );
    drop(server);

    // A start without the fault puts the indexes back.
    let normal = start(&app.db.url, &[]).await;
    assert_eq!(get(&normal.addr, "/health", None).await.status, 200);
    for (name, _) in HISTORY_INDEXES {
        assert!(
            index_exists(&db, name).await.unwrap(),
            "{name} not restored"
        );
    }
    if sqlite {
        let plan = history_plan(&db).await;
        assert!(plan.contains("INDEX executions_agent_start"), "{plan}");
    }
}

/// Submits `n` executions at once; returns the slowest response time.
async fn concurrent_executes(addr: &str, token: &str, n: usize) -> Duration {
    let agent = uuid::Uuid::new_v4();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (addr, token) = (addr.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = request(
                &addr,
                "POST",
                "/api/v1/agent-studio/execute",
                Some(&token),
                Some(&json!({"agent_id": agent, "prompt": format!("p{i}")})),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            t.elapsed()
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        slowest = slowest.max(t.await.unwrap());
    }
    slowest
}

#[tokio::test]
async fn write_lock_serialises_writes_behind_the_held_lock() {
    let app = TestApp::new().await;
    let server = start(
        &app.db.url,
        &["--fault", "write-lock:ms=250", "--workers-min", "1"],
    )
    .await;
    let token = login(&server.addr).await;
    let slowest = concurrent_executes(&server.addr, &token, 6).await;
    // Six writers, one lock held 250 ms each: the last waits for the five before it.
    assert!(slowest >= Duration::from_millis(1400), "{slowest:?}");
    let text = metrics(&server.addr).await;
    assert_eq!(
        sample(&text, "dryad_fault_active{kind=\"write-lock\"}"),
        1.0
    );
    if app.db.url.starts_with("sqlite") {
        // The others waited for the writer connection.
        let waited = sample(&text, "dryad_db_write_wait_seconds_sum{pool=\"api\"}");
        assert!(waited >= 1.0, "write wait {waited} s");
    }
    // Every execution was committed.
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM executions")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 6);

    // The contrast: the same writes without the fault do not queue.
    let normal = start(&app.db.url, &["--workers-min", "1"]).await;
    let token = login(&normal.addr).await;
    let slowest = concurrent_executes(&normal.addr, &token, 6).await;
    assert!(slowest < Duration::from_millis(1000), "{slowest:?}");
}

/// A GET that tolerates the connection being reset; returns whatever came back.
async fn raw_get(addr: &str, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    if stream.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    String::from_utf8_lossy(&raw).into_owned()
}

async fn exit_code(server: &mut Server, within: Duration) -> Option<i32> {
    tokio::time::timeout(within, server.child.wait())
        .await
        .expect("dryad did not exit")
        .unwrap()
        .code()
}

#[tokio::test]
async fn crash_after_requests_exits_on_the_nth_api_request() {
    let app = TestApp::new().await;
    let mut server = start(&app.db.url, &["--fault", "crash:after-requests=4"]).await;
    // Requests outside /api/ do not count.
    for _ in 0..5 {
        assert_eq!(get(&server.addr, "/health", None).await.status, 200);
    }
    let token = login(&server.addr).await; // 1
    let agent = uuid::Uuid::new_v4();
    let path = format!("/api/v1/agent-studio/agents/{agent}/metrics");
    for _ in 0..2 {
        assert_eq!(get(&server.addr, &path, Some(&token)).await.status, 200); // 2, 3
    }
    let fourth = raw_get(&server.addr, &path, &token).await;
    assert!(
        !fourth.starts_with("HTTP/1.1 "),
        "the 4th request was answered: {fourth}"
    );
    assert_eq!(
        exit_code(&mut server, Duration::from_secs(5)).await,
        Some(dryad::fault::CRASH_EXIT_CODE)
    );
}

#[tokio::test]
async fn crash_after_secs_exits_on_time() {
    let app = TestApp::new().await;
    let started = Instant::now();
    let mut server = start(&app.db.url, &["--fault", "crash:after-secs=1.5"]).await;
    assert_eq!(get(&server.addr, "/health", None).await.status, 200);
    assert_eq!(
        exit_code(&mut server, Duration::from_secs(10)).await,
        Some(dryad::fault::CRASH_EXIT_CODE)
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
}
