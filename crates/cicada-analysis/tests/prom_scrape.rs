//! Scraping a real HTTP server on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cicada_analysis::http_get::HttpGetError;
use cicada_analysis::prom::{MetricSelector, ScrapeError, Scraper, SeriesAccumulator, scrape};
use cicada_report::analysis_model::SeriesStat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP server: each request gets `respond(n)` (status, body) for the n-th request.
async fn serve<F>(respond: F) -> String
where
    F: Fn(u64) -> (u16, String, Duration) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = Arc::new(respond);
    let counter = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let respond = respond.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let (status, body, delay) = respond(n);
                tokio::time::sleep(delay).await;
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}/metrics")
}

fn exposition(n: u64) -> String {
    format!(
        "# HELP dryad_requests_total Requests.\n# TYPE dryad_requests_total counter\ndryad_requests_total{{route=\"/agents\"}} {}\n# TYPE dryad_queue_depth gauge\ndryad_queue_depth {}\n# TYPE dryad_pool_acquire_seconds histogram\ndryad_pool_acquire_seconds_bucket{{le=\"0.001\"}} {}\ndryad_pool_acquire_seconds_bucket{{le=\"0.01\"}} {}\ndryad_pool_acquire_seconds_bucket{{le=\"+Inf\"}} {}\ndryad_pool_acquire_seconds_sum 0\ndryad_pool_acquire_seconds_count {}\n# TYPE go_threads gauge\ngo_threads 9\n",
        100 * n,
        n,
        10 * n,
        20 * n,
        20 * n,
        20 * n
    )
}

#[tokio::test]
async fn scrapes_a_live_server_into_series() {
    let url = serve(|n| (200, exposition(n), Duration::ZERO)).await;
    let selector = MetricSelector::new(["dryad_*"]).unwrap();
    let mut scraper = Scraper::new(
        &url,
        Duration::from_secs(2),
        SeriesAccumulator::new(selector, &[0.5, 0.95]),
    )
    .unwrap();
    for t in 1..=3 {
        scraper.tick(t as f64).await.unwrap();
    }
    let scraped = scraper.finish();
    assert_eq!(scraped.scrapes, 3);
    assert_eq!(scraped.failed_scrapes, 0);
    assert_eq!(scraped.url, url);
    assert!(scraped.series.iter().all(|s| s.name.starts_with("dryad_")));
    let rate = scraped
        .series
        .iter()
        .find(|s| s.name == "dryad_requests_total" && s.stat == SeriesStat::Rate)
        .unwrap();
    assert_eq!(rate.labels["route"], "/agents");
    assert_eq!(rate.points.len(), 2);
    assert!(rate.points.iter().all(|p| p.value == 100.0), "{rate:?}");
    let queue = scraped
        .series
        .iter()
        .find(|s| s.name == "dryad_queue_depth")
        .unwrap();
    assert_eq!(
        queue.points.iter().map(|p| p.value).collect::<Vec<_>>(),
        [0.0, 1.0, 2.0]
    );
    // Per interval: 20 acquisitions, 10 under 1 ms, 10 in (1 ms, 10 ms]: p50 = 1 ms.
    let p50 = scraped
        .series
        .iter()
        .find(|s| {
            s.name == "dryad_pool_acquire_seconds" && s.stat == SeriesStat::Quantile { q: 0.5 }
        })
        .unwrap();
    assert_eq!(p50.points.len(), 2);
    assert!((p50.points[0].value - 0.001).abs() < 1e-12, "{p50:?}");
}

#[tokio::test]
async fn errors_are_typed_and_counted() {
    // A 500, a garbled body and a stalled response.
    let url = serve(|n| match n {
        0 => (500, "oops".into(), Duration::ZERO),
        1 => (200, "not metrics at all {".into(), Duration::ZERO),
        _ => (200, exposition(1), Duration::from_secs(5)),
    })
    .await;
    let parsed = cicada_analysis::http_get::HttpUrl::parse(&url).unwrap();
    let e = scrape(&parsed, Duration::from_secs(2)).await.unwrap_err();
    assert!(
        matches!(
            e,
            ScrapeError::Http(HttpGetError::Status { status: 500, .. })
        ),
        "{e}"
    );
    let e = scrape(&parsed, Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(e, ScrapeError::Parse { .. }), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
    let mut scraper = Scraper::new(
        &url,
        Duration::from_millis(200),
        SeriesAccumulator::new(MetricSelector::all(), &[]),
    )
    .unwrap();
    let e = scraper.tick(1.0).await.unwrap_err();
    assert!(
        matches!(e, ScrapeError::Http(HttpGetError::Timeout { .. })),
        "{e}"
    );
    let scraped = scraper.finish();
    assert_eq!((scraped.scrapes, scraped.failed_scrapes), (0, 1));
    assert!(scraped.last_error.unwrap().contains("timed out"));
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = cicada_analysis::http_get::HttpUrl::parse(&format!("http://{addr}/metrics")).unwrap();
    let e = scrape(&url, Duration::from_secs(2)).await.unwrap_err();
    assert!(
        matches!(e, ScrapeError::Http(HttpGetError::Connect { .. })),
        "{e}"
    );
}
