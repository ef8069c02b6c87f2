//! Connection handling against a raw HTTP/1.1 server that counts connections: one keep-alive
//! connection per user, transparent reconnects when the server closes, maximum lifetime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cicada::scenario::LoadSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::{next_request, run_toml};

/// Answers `200 ok` to every request; closes after each response when `close_each`.
/// Returns the URL and the number of accepted connections.
async fn raw_keepalive_server(close_each: bool) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while next_request(&mut sock, &mut buf).await {
                    if sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if close_each {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

fn bounded(users: u64, iterations: u64) -> LoadSpec {
    LoadSpec {
        users: Some(users),
        spawn_rate: Some(1000.0),
        iterations: Some(iterations),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    }
}

const TASK: &str =
    "[[users]]\nwait = { constant = \"5ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_keep_alive_connection_per_user() {
    let (host, accepted) = raw_keepalive_server(false).await;
    let report = run_toml(TASK, &host, bounded(3, 60)).await;
    assert_eq!(report.aggregated.requests, 60);
    assert_eq!(report.aggregated.failures, 0);
    // One per user, plus the pre-flight reachability check.
    assert_eq!(accepted.load(Ordering::Relaxed), 3 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closing_connections_is_not_a_failure() {
    let (host, accepted) = raw_keepalive_server(true).await;
    let report = run_toml(TASK, &host, bounded(2, 40)).await;
    assert_eq!(report.aggregated.requests, 40);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);
    assert_eq!(accepted.load(Ordering::Relaxed), 40 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_renewed_after_their_lifetime() {
    let (host, accepted) = raw_keepalive_server(false).await;
    let toml = format!("[defaults]\nmax_connection_lifetime = \"100ms\"\n{TASK}");
    let load = LoadSpec {
        users: Some(1),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_millis(1000)),
        ..LoadSpec::default()
    };
    let report = run_toml(&toml, &host, load).await;
    assert_eq!(report.aggregated.failures, 0);
    let n = accepted.load(Ordering::Relaxed);
    assert!(
        (6..=13).contains(&n),
        "{n} connections in 1 s with a 100 ms lifetime"
    );
    assert!(report.aggregated.connect_mean_ms.is_some());
}

/// A response with a 64 KiB header block and a 4 MiB body, on a keep-alive connection.
async fn large_response_server() -> String {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..66 {
        head.push_str(&format!("X-Pad-{i:02}: {}\r\n", "p".repeat(1000)));
    }
    let mut body = vec![b'b'; 4 * 1024 * 1024];
    body.extend_from_slice(b"END-OF-BODY");
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    assert!(head.len() > 64 * 1024);
    let response: Arc<Vec<u8>> = Arc::new([head.into_bytes(), body].concat());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let response = Arc::clone(&response);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 2048];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if sock.write_all(&response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Pins that the client's read buffer grows for a head larger than it (64 KiB of headers) and
/// that a 4 MiB body a check needs is kept whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_response_head_and_body_are_read_whole() {
    let host = large_response_server().await;
    let toml = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/big\"\n\
                checks = [{ body_contains = \"END-OF-BODY\" }]\n";
    let report = run_toml(toml, &host, bounded(2, 6)).await;
    assert_eq!(report.aggregated.requests, 6);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);
    assert_eq!(
        report.aggregated.total_bytes,
        6 * (4 * 1024 * 1024 + "END-OF-BODY".len() as u64)
    );
}

/// A 4 MiB request body cannot go out in one write: the connection, driven inside the user's
/// task, must keep writing as the socket drains, then read the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_request_body_is_written_whole() {
    use axum::routing::post;
    let app = axum::Router::new()
        .route(
            "/upload",
            post(|body: axum::body::Bytes| async move { format!("got {}", body.len()) }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let host = crate::util::serve(app).await;
    let size = 4 * 1024 * 1024;
    let toml = format!(
        "[[users]]\n[[users.tasks]]\nmethod = \"POST\"\npath = \"/upload\"\nbody = \"{}\"\n\
         checks = [{{ body_contains = \"got {size}\" }}]\n",
        "x".repeat(size)
    );
    let report = run_toml(&toml, &host, bounded(2, 6)).await;
    assert_eq!(report.aggregated.requests, 6);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);
}

/// `--local-ips`: users' connections come from the given loopback addresses, in turn (the
/// pre-flight check uses the system's choice); an address of the wrong family is an error
/// before any traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_come_from_the_local_addresses_given() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peers: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let seen = Arc::clone(&peers);
    tokio::spawn(async move {
        while let Ok((mut sock, peer)) = listener.accept().await {
            *seen
                .lock()
                .unwrap()
                .entry(peer.ip().to_string())
                .or_default() += 1;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while next_request(&mut sock, &mut buf).await {
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if sock.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let host = format!("http://{addr}");
    let mut config = crate::util::config(TASK, std::path::Path::new("."), &host, bounded(4, 40));
    config.local_addrs = cicada::http::parse_local_addrs("127.0.0.2-127.0.0.3").unwrap();
    let report = crate::util::run(config).await;
    assert_eq!(
        (report.aggregated.requests, report.aggregated.failures),
        (40, 0)
    );
    let peers = peers.lock().unwrap().clone();
    let want: BTreeMap<String, u64> = [("127.0.0.1", 1), ("127.0.0.2", 2), ("127.0.0.3", 2)]
        .into_iter()
        .map(|(ip, n)| (ip.to_string(), n))
        .collect();
    assert_eq!(peers, want);

    let mut config = crate::util::config(TASK, std::path::Path::new("."), &host, bounded(1, 1));
    config.local_addrs = vec!["::1".parse().unwrap()];
    let err = cicada::runner::Runner::start(config).await.unwrap_err();
    assert!(err.to_string().contains("address families differ"), "{err}");
}
