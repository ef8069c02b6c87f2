//! The per-user request timer: it is kept between requests and re-armed only when it fires
//! early, so each request still times out exactly its own timeout after it started.

use std::time::{Duration, Instant};

use cicada_report::model::FailureKind;
use tokio::io::AsyncWriteExt;

use crate::util::{get, next_request, user_client};

/// Answers the first request on each connection at once and never answers the second.
async fn stalls_on_second_request() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut answered = 0;
                while next_request(&mut sock, &mut buf).await {
                    if answered == 0 {
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if sock.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                    answered += 1;
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn each_request_gets_its_whole_timeout_after_an_earlier_one() {
    let url = stalls_on_second_request().await;
    let mut c = user_client(&url, Duration::from_millis(400));
    get(&mut c, "/", false)
        .await
        .expect("first request answered");
    // The timer armed by the first request would fire 200 ms into the second one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let failure = get(&mut c, "/", false)
        .await
        .expect_err("second request stalls");
    let took = started.elapsed();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(failure.message, "request timed out after 400ms");
    assert!(
        took >= Duration::from_millis(395) && took < Duration::from_millis(1500),
        "timed out after {took:?}"
    );
    // And the next request (a fresh connection) is answered and timed normally.
    get(&mut c, "/", false)
        .await
        .expect("third request answered");
}
