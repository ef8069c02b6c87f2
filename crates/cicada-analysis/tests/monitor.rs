//! The run monitor collects resources, scrapes and probe readings once a second.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cicada_analysis::monitor::{Monitor, MonitorConfig, MonitorError};
use cicada_analysis::prom::MetricSelector;
use cicada_analysis::scaling::parse_probe;
use cicada_report::analysis_model::SeriesStat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A /metrics page whose counter grows by 10 per scrape.
async fn metrics_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let n = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let n = n.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let v = n.fetch_add(10, Ordering::SeqCst) + 10;
                let body = format!("# TYPE jobs_total counter\njobs_total {v}\nother_gauge 1\n");
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/metrics")
}

#[tokio::test]
async fn collects_everything_once_a_second_until_stopped() {
    let url = metrics_server().await;
    let mut target = Command::new("sleep")
        .arg("20")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let monitor = Monitor::start(
        MonitorConfig {
            target_pid: Some(target.id()),
            scrape_url: Some(url.clone()),
            scrape_selector: MetricSelector::new(["jobs_*"]).unwrap(),
            probe: Some(parse_probe("cmd:echo 4", Duration::from_secs(2)).unwrap()),
            ..MonitorConfig::default()
        },
        started,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let m = monitor.stop().await;
    let _ = target.kill();
    let _ = target.wait();

    let resources = m.resources.unwrap();
    let generator = resources.generator.unwrap();
    assert_eq!(generator.samples.len(), 3, "{:?}", generator.samples);
    // Ticks fall on whole seconds after the start of traffic.
    for (i, s) in generator.samples.iter().enumerate() {
        assert!((s.elapsed_s - (i + 1) as f64).abs() < 0.5, "{s:?}");
    }
    assert_eq!(resources.target.unwrap().samples.len(), 3);
    assert_eq!(resources.system.len(), 3);

    let scraped = m.scraped.unwrap();
    assert_eq!((scraped.scrapes, scraped.failed_scrapes), (3, 0));
    assert_eq!(scraped.url, url);
    assert_eq!(scraped.series.len(), 1, "only jobs_* is kept");
    assert_eq!(scraped.series[0].stat, SeriesStat::Rate);
    assert_eq!(scraped.series[0].points.len(), 2);

    assert_eq!(m.probe.as_deref(), Some("command: echo 4"));
    assert_eq!(m.probe_failures, 0);
    let readings: Vec<Option<f64>> = m.probe_readings.iter().map(|r| r.1).collect();
    assert_eq!(readings, [Some(4.0); 3]);
}

#[tokio::test]
async fn bad_configuration_is_refused_at_start() {
    let e = Monitor::start(
        MonitorConfig {
            interval: Duration::ZERO,
            ..MonitorConfig::default()
        },
        Instant::now(),
    )
    .unwrap_err();
    assert!(matches!(e, MonitorError::ZeroInterval));
    let e = Monitor::start(
        MonitorConfig {
            scrape_url: Some("https://127.0.0.1/metrics".into()),
            ..MonitorConfig::default()
        },
        Instant::now(),
    )
    .unwrap_err();
    assert!(matches!(e, MonitorError::ScrapeUrl(_)), "{e}");
    let e = Monitor::start(
        MonitorConfig {
            target_pid: Some(u32::MAX - 1),
            ..MonitorConfig::default()
        },
        Instant::now(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is gone"), "{e}");
}

#[tokio::test]
async fn a_monitor_with_nothing_but_resources_still_samples() {
    let monitor = Monitor::start(MonitorConfig::default(), Instant::now()).unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let m = monitor.stop().await;
    assert!(m.scraped.is_none() && m.probe.is_none());
    assert_eq!(m.resources.unwrap().generator.unwrap().samples.len(), 1);
}
