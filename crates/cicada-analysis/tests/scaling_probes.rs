//! The scaling probes against a real HTTP server on 127.0.0.1 and real commands.

use std::time::{Duration, Instant};

use cicada_analysis::scaling::{ProbeError, ProbeRecorder, parse_probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `body` with `content_type` to every request.
async fn serve(content_type: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn the_command_probe_reads_stdout() {
    let p = parse_probe("cmd:echo 3", T).unwrap();
    assert_eq!(p.read().await.unwrap(), 3.0);
    // kubectl's jsonpath prints without a newline; extra output after the number is ignored.
    let p = parse_probe("cmd:printf '7 replicas'", T).unwrap();
    assert_eq!(p.read().await.unwrap(), 7.0);
}

#[tokio::test]
async fn command_failures_are_typed() {
    let p = parse_probe("cmd:echo nope", T).unwrap();
    assert!(matches!(p.read().await, Err(ProbeError::NotANumber { .. })));
    let p = parse_probe("cmd:echo broken >&2; exit 3", T).unwrap();
    match p.read().await {
        Err(ProbeError::CommandFailed { status, stderr, .. }) => {
            assert!(status.contains('3'), "{status}");
            assert_eq!(stderr, "broken");
        }
        other => panic!("{other:?}"),
    }
    // A hanging command is cut off at the timeout (and killed).
    let p = parse_probe("cmd:sleep 30", Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    assert!(matches!(
        p.read().await,
        Err(ProbeError::CommandTimeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_prometheus_probe_reads_and_sums_a_metric() {
    let base = serve(
        "text/plain; version=0.0.4",
        "# TYPE dryad_workers_current gauge\ndryad_workers_current 4\n# TYPE kube_deployment_status_replicas gauge\nkube_deployment_status_replicas{deployment=\"dryad\",pod=\"a\"} 2\nkube_deployment_status_replicas{deployment=\"dryad\",pod=\"b\"} 3\nkube_deployment_status_replicas{deployment=\"other\"} 9\n".into(),
    )
    .await;
    let p = parse_probe(&format!("prom:{base}/metrics#dryad_workers_current"), T).unwrap();
    assert_eq!(p.read().await.unwrap(), 4.0);
    let p = parse_probe(
        &format!("prom:{base}/metrics#kube_deployment_status_replicas{{deployment=\"dryad\"}}"),
        T,
    )
    .unwrap();
    assert_eq!(p.read().await.unwrap(), 5.0);
    let p = parse_probe(&format!("prom:{base}/metrics#missing_metric"), T).unwrap();
    assert!(matches!(
        p.read().await,
        Err(ProbeError::NoSuchMetric { .. })
    ));
}

#[tokio::test]
async fn the_json_probe_follows_a_pointer() {
    let base = serve(
        "application/json",
        r#"{"workers":{"current":6,"desired":"8"},"name":"pool"}"#.into(),
    )
    .await;
    let p = parse_probe(&format!("json:{base}/admin/workers#/workers/current"), T).unwrap();
    assert_eq!(p.read().await.unwrap(), 6.0);
    let p = parse_probe(&format!("json:{base}/admin/workers#/workers/desired"), T).unwrap();
    assert_eq!(p.read().await.unwrap(), 8.0);
    let p = parse_probe(&format!("json:{base}/admin/workers#/workers/missing"), T).unwrap();
    assert!(matches!(
        p.read().await,
        Err(ProbeError::NoSuchPointer { .. })
    ));
    let p = parse_probe(&format!("json:{base}/admin/workers#/name"), T).unwrap();
    assert!(matches!(p.read().await, Err(ProbeError::NotANumber { .. })));
}

#[tokio::test]
async fn the_recorder_keeps_readings_and_failures() {
    let mut rec = ProbeRecorder::new(parse_probe("cmd:echo 2", T).unwrap());
    rec.tick(1.0).await.unwrap();
    rec.tick(2.0).await.unwrap();
    assert_eq!(rec.readings(), [(1.0, Some(2.0)), (2.0, Some(2.0))]);
    // A probe against a closed port fails each time, and the recorder says why.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut rec =
        ProbeRecorder::new(parse_probe(&format!("prom:http://{addr}/metrics#x"), T).unwrap());
    assert!(rec.tick(1.0).await.is_err());
    assert_eq!(rec.failures(), 1);
    assert_eq!(rec.readings(), [(1.0, None)]);
    assert!(rec.last_error().unwrap().contains("cannot connect"));
}
