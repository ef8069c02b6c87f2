//! issue 11: slow clients against the real `dryad serve` binary. A request head that never
//! completes (slowloris), a body that trickles, and an idle keep-alive connection are each cut
//! off within their timeout and counted on /metrics; SIGTERM with such clients connected exits
//! within the shutdown deadline and still returns running executions to the queue.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::TestApp;
use common::server::{Server, request, sample, start};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::process::Command;

/// Reads until the server closes the connection (FIN or reset); returns what came and when.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0) | Err(_)) => return (got, Instant::now()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `bytes` one at a time, `gap` apart, until the server closes or `bytes` run out.
async fn trickle(stream: &mut TcpStream, bytes: &[u8], gap: Duration) {
    for b in bytes {
        if stream.write_all(&[*b]).await.is_err() {
            return;
        }
        tokio::time::sleep(gap).await;
    }
}

async fn metrics(addr: &str) -> String {
    request(addr, "GET", "/metrics", None, None).await.body
}

async fn timeouts(addr: &str, phase: &str) -> f64 {
    sample(
        &metrics(addr).await,
        &format!("dryad_http_timeouts_total{{phase=\"{phase}\"}}"),
    )
}

#[tokio::test]
async fn slowloris_head_is_closed_within_the_header_timeout() {
    let app = TestApp::new().await;
    let server = start(&app.db.url, &["--header-read-timeout-secs", "1"]).await;

    // A head that never ends: one more header line every 200 ms, for up to 8 s.
    let mut slow = TcpStream::connect(&server.addr).await.unwrap();
    let opened = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let feeder = tokio::spawn(async move {
        for i in 0..40 {
            let line = format!("X-Slow-{i}: y\r\n");
            if writer.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut buf = [0u8; 256];
    let closed = match tokio::time::timeout(Duration::from_secs(8), reader.read(&mut buf)).await {
        Err(_) => panic!("slowloris connection still open after 8 s"),
        Ok(Ok(0) | Err(_)) => opened.elapsed(),
        Ok(Ok(_)) => panic!("the server answered a head that never ended"),
    };
    feeder.abort();
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
        "closed after {closed:?}, expected about 1 s"
    );

    // A connection that sends nothing at all is closed the same way.
    let mut silent = TcpStream::connect(&server.addr).await.unwrap();
    let opened = Instant::now();
    let (got, at) = read_until_closed(&mut silent, Duration::from_secs(8)).await;
    assert!(got.is_empty());
    assert!(at - opened < Duration::from_secs(4), "{:?}", at - opened);
    assert_eq!(timeouts(&server.addr, "request_head").await, 2.0);

    // Idle time between requests is not head time: a keep-alive client that waits 1.5 s
    // (over the 1 s head timeout, under the 75 s keep-alive) is still served.
    let mut kept = TcpStream::connect(&server.addr).await.unwrap();
    for _ in 0..2 {
        kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut head))
            .await
            .expect("no answer on the kept-alive connection")
            .unwrap();
        assert!(
            head[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&head[..n])
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert_eq!(timeouts(&server.addr, "request_head").await, 2.0);
    assert_eq!(timeouts(&server.addr, "keep_alive_idle").await, 0.0);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_its_timeout() {
    let app = TestApp::new().await;
    let server = start(&app.db.url, &["--keep-alive-timeout-secs", "1"]).await;
    let mut conn = TcpStream::connect(&server.addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    let (rest, at) = read_until_closed(&mut conn, Duration::from_secs(8)).await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    let idle = at - answered;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(4),
        "closed after {idle:?} idle, expected about 1 s"
    );
    assert_eq!(timeouts(&server.addr, "keep_alive_idle").await, 1.0);
    let m = metrics(&server.addr).await;
    assert!(sample(&m, "dryad_http_connections_total") >= 2.0, "{m}");
}

#[tokio::test]
async fn trickling_body_gets_408_json_within_the_body_timeout() {
    let app = TestApp::new().await;
    let server = start(&app.db.url, &["--body-read-timeout-secs", "1"]).await;
    let body = json!({"username": "loadtest", "password": "test123"}).to_string();
    let mut conn = TcpStream::connect(&server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    let (mut reader, mut writer) = conn.into_split();
    // 48 bytes at one per 250 ms would take 12 s.
    let bytes = body.into_bytes();
    let feeder = tokio::spawn(async move {
        for b in bytes {
            if writer.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(8), reader.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after 8 s; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0) | Err(_)) => break sent.elapsed(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    feeder.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    let (_, json_body) = text.split_once("\r\n\r\n").unwrap();
    let err: serde_json::Value = serde_json::from_str(json_body).unwrap();
    assert_eq!(err["error"], "request_timeout", "{text}");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
        "answered and closed after {closed:?}, expected about 1 s"
    );
    assert_eq!(timeouts(&server.addr, "request_body").await, 1.0);
    let m = metrics(&server.addr).await;
    assert!(
        m.contains(
            "dryad_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"408\"} 1"
        ),
        "{m}"
    );

    // A body that arrives in time is served as before.
    let ok = request(
        &server.addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"username": "loadtest", "password": "test123"})),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
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

async fn sigterm(server: &Server) {
    let pid = server.child.id().expect("running").to_string();
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(ok.success());
}

#[tokio::test]
async fn sigterm_with_slow_clients_exits_within_the_deadline_and_requeues() {
    let app = TestApp::new().await;
    let mut server = start(
        &app.db.url,
        &[
            // Generous client timeouts: only the shutdown deadline can end these clients.
            "--header-read-timeout-secs",
            "120",
            "--body-read-timeout-secs",
            "120",
            "--shutdown-timeout-secs",
            "2",
            "--agent-latency",
            "constant",
            "--agent-latency-median-ms",
            "20000",
            "--agent-latency-max-ms",
            "20000",
            "--lease-secs",
            "600",
            "--workers-min",
            "2",
            "--workers-max",
            "2",
        ],
    )
    .await;
    let token = login(&server.addr).await;
    let agent = uuid::Uuid::new_v4();
    for i in 0..3 {
        let r = request(
            &server.addr,
            "POST",
            "/api/v1/agent-studio/execute",
            Some(&token),
            Some(&json!({"agent_id": agent, "prompt": format!("job {i}")})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while by_status(&app).await.get("RUNNING").copied().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "{:?}", by_status(&app).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A half-sent head and a half-sent body, both still trickling.
    let mut loris = TcpStream::connect(&server.addr).await.unwrap();
    loris
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut body = TcpStream::connect(&server.addr).await.unwrap();
    body.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let trickler = tokio::spawn(async move {
        let (mut a, mut b) = (loris, body);
        tokio::join!(
            trickle(&mut a, &[b'X'; 400], Duration::from_millis(100)),
            trickle(&mut b, &[b' '; 400], Duration::from_millis(100)),
        );
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    sigterm(&server).await;
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("dryad still running 10 s after SIGTERM with slow clients connected")
        .unwrap();
    let took = signalled.elapsed();
    trickler.abort();
    assert!(status.success(), "exit status {status:?}");
    // It waited for the in-flight (trickling) request up to the deadline, and no longer.
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(6),
        "exited {took:?} after SIGTERM, deadline 2 s"
    );
    // With a 600 s lease only the graceful shutdown can have put them back.
    let after = by_status(&app).await;
    assert_eq!(after.get("RUNNING").copied().unwrap_or(0), 0, "{after:?}");
    assert_eq!(after.get("PENDING").copied().unwrap_or(0), 3, "{after:?}");
}
