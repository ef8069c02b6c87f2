//! A user's connection parked during long waits (buffers freed, the TCP stream kept):
//! the same connection carries the next request, and a server that closed it or wrote to it
//! meanwhile costs a fresh connection, never a failure. Raw HTTP/1.1 servers count connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cicada::http::{PARK_AFTER, UserClient};
use cicada::scenario::LoadSpec;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::util::{get, next_request, run_toml, user_client};

/// What the test server does after each response.
#[derive(Clone, Copy)]
enum After {
    KeepOpen,
    Close,
    /// Writes bytes nobody asked for 20 ms later, and keeps the connection open.
    Junk,
}

/// Answers `200 ok` to every request; returns the URL, the accepted connections and a signal
/// given each time junk was written ([`After::Junk`]).
async fn server(after: After) -> (String, Arc<AtomicU64>, Arc<Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    let junk_sent = Arc::new(Notify::new());
    let junk_signal = Arc::clone(&junk_sent);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let junk_signal = Arc::clone(&junk_signal);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while next_request(&mut sock, &mut buf).await {
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if sock.write_all(answer).await.is_err() {
                        return;
                    }
                    match after {
                        After::KeepOpen => {}
                        After::Close => return,
                        After::Junk => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            if sock.write_all(b"junk").await.is_err() {
                                return;
                            }
                            junk_signal.notify_one();
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted, junk_sent)
}

/// Wait until the server wrote its junk, and a little more for it to arrive.
async fn junk_arrived(junk_sent: &Notify) {
    tokio::time::timeout(Duration::from_secs(10), junk_sent.notified())
        .await
        .expect("the server writes junk");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

async fn ok(c: &mut UserClient) {
    let response = get(c, "/x", true).await.expect("request succeeds");
    assert_eq!(response.status, 200);
    assert_eq!(c.response().body(), Some(&b"ok"[..]));
}

#[tokio::test]
async fn a_parked_connection_carries_the_next_request() {
    let (url, accepted, _) = server(After::KeepOpen).await;
    let mut c = user_client(&url, Duration::from_secs(5));
    for _ in 0..5 {
        ok(&mut c).await;
        c.before_wait(PARK_AFTER);
        assert!(c.is_parked());
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn short_waits_keep_the_connection_active() {
    let (url, accepted, _) = server(After::KeepOpen).await;
    let mut c = user_client(&url, Duration::from_secs(5));
    for _ in 0..5 {
        ok(&mut c).await;
        c.before_wait(PARK_AFTER - Duration::from_millis(1));
        assert!(!c.is_parked());
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_server_closing_a_parked_connection_costs_a_new_one_not_a_failure() {
    let (url, accepted, _) = server(After::Close).await;
    let mut c = user_client(&url, Duration::from_secs(5));
    for _ in 0..4 {
        ok(&mut c).await;
        c.before_wait(PARK_AFTER);
        // Let the server's close arrive while the connection is parked.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn bytes_arriving_on_a_parked_connection_close_it() {
    let (url, accepted, junk_sent) = server(After::Junk).await;
    let mut c = user_client(&url, Duration::from_secs(5));
    for _ in 0..3 {
        ok(&mut c).await;
        c.before_wait(PARK_AFTER);
        assert!(c.is_parked());
        // The junk arrives while parked: the next request must not read it as its response.
        junk_arrived(&junk_sent).await;
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn bytes_arriving_before_parking_close_the_connection() {
    let (url, accepted, junk_sent) = server(After::Junk).await;
    let mut c = user_client(&url, Duration::from_secs(5));
    ok(&mut c).await;
    junk_arrived(&junk_sent).await;
    c.before_wait(PARK_AFTER);
    assert!(!c.is_parked());
    ok(&mut c).await;
    assert_eq!(accepted.load(Ordering::Relaxed), 2);
}

/// The whole engine: users waiting 60 ms between requests park and reuse one connection each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_long_waits_keep_one_connection_each() {
    let (url, accepted, _) = server(After::KeepOpen).await;
    let toml = "[[users]]\nwait = { constant = \"60ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";
    let load = LoadSpec {
        users: Some(3),
        spawn_rate: Some(1000.0),
        iterations: Some(15),
        run_time: Some(Duration::from_secs(20)),
        ..LoadSpec::default()
    };
    let report = run_toml(toml, &url, load).await;
    assert_eq!(report.aggregated.requests, 15);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);
    // One per user, plus the pre-flight reachability check.
    assert_eq!(accepted.load(Ordering::Relaxed), 3 + 1);
}
