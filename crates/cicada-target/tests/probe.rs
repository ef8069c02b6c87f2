//! The readiness probe against real sockets on loopback: a status is whatever the server
//! answered; anything that is not HTTP, or no answer at all, is an error with its reason.

use std::time::Duration;

use cicada_target::ReadyUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-shot server: reads the request head, writes `reply`, closes. Returns the probe URL and
/// a handle yielding the request head it read.
async fn serve_once(reply: &'static [u8]) -> (ReadyUrl, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        socket.write_all(reply).await.unwrap();
        socket.shutdown().await.ok();
        String::from_utf8_lossy(&head).into_owned()
    });
    let url = format!("http://127.0.0.1:{port}/ready?deep=1")
        .parse()
        .unwrap();
    (url, handle)
}

#[tokio::test]
async fn returns_the_status_the_server_answered() {
    for (reply, status) in [
        (&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"[..], 200),
        (
            &b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"[..],
            503,
        ),
        // A body the probe never reads does not matter.
        (
            &b"HTTP/1.0 204 No Content\r\nconnection: close\r\n\r\n"[..],
            204,
        ),
    ] {
        let (url, server) = serve_once(reply).await;
        assert_eq!(url.probe(Duration::from_secs(5)).await.unwrap(), status);
        let head = server.await.unwrap();
        assert!(head.starts_with("GET /ready?deep=1 HTTP/1.1\r\n"), "{head}");
        let lower = head.to_ascii_lowercase();
        assert!(lower.contains("host: 127.0.0.1:"), "{head}");
    }
}

#[tokio::test]
async fn a_server_that_is_not_http_is_an_error() {
    let (url, _server) = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n").await;
    let err = url.probe(Duration::from_secs(5)).await.unwrap_err();
    assert!(err.to_string().contains("not an HTTP response"), "{err}");
}

#[tokio::test]
async fn a_server_that_closes_without_answering_is_an_error() {
    let (url, _server) = serve_once(b"").await;
    assert!(url.probe(Duration::from_secs(5)).await.is_err());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let url: ReadyUrl = format!("http://127.0.0.1:{port}/").parse().unwrap();
    let err = url.probe(Duration::from_millis(200)).await.unwrap_err();
    assert!(err.to_string().contains("no answer within"), "{err}");
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url: ReadyUrl = format!("http://127.0.0.1:{port}/").parse().unwrap();
    let err = url.probe(Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(err, cicada_target::ProbeError::Io(_)),
        "expected a connect error, got {err}"
    );
}
