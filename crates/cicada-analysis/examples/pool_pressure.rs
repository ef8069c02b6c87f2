//! Put a running dryad's database pool under pressure and print the findings:
//!
//! ```text
//! dryad serve --bind 127.0.0.1:18000 --pool-size 1 --database-url sqlite:///tmp/p.db &
//! cargo run -p cicada-analysis --example pool_pressure -- http://127.0.0.1:18000 10 64 [DRYAD_PID]
//! ```
//!
//! `CONCURRENCY` clients call `GET /ready` (one database ping each) back to back for `SECONDS`
//! (bounded), while the target's `/metrics` is scraped and, given its PID, its CPU sampled once a
//! second. The per-second results go into a run report and through the bottleneck rules.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cicada_analysis::findings::{FindingsConfig, FindingsInput, analyze};
use cicada_analysis::http_get::{HttpUrl, get_text};
use cicada_analysis::monitor::{Monitor, MonitorConfig};
use cicada_report::model::{Percentiles, RequestStats};

/// Per second: latencies of the successful requests (ms) and the failure count.
type PerSecond = BTreeMap<u64, (Vec<f64>, u64)>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: pool_pressure BASE_URL SECONDS CONCURRENCY [PID]";
    let base = args.first().ok_or(usage)?;
    let seconds: u64 = args.get(1).ok_or(usage)?.parse()?;
    let concurrency: usize = args.get(2).ok_or(usage)?.parse()?;
    let pid: Option<u32> = args.get(3).map(|p| p.parse()).transpose()?;
    let ready = HttpUrl::parse(&format!("{base}/ready"))?;

    let started = Instant::now();
    let monitor = Monitor::start(
        MonitorConfig {
            target_pid: pid,
            scrape_url: Some(format!("{base}/metrics")),
            ..MonitorConfig::default()
        },
        started,
    )?;
    let latencies: Arc<Mutex<PerSecond>> = Arc::default();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (ready, latencies) = (ready.clone(), latencies.clone());
        clients.push(tokio::spawn(async move {
            while started.elapsed() < Duration::from_secs(seconds) {
                let sent = Instant::now();
                let ok = get_text(&ready, Duration::from_secs(5)).await.is_ok();
                let second = started.elapsed().as_secs() + 1;
                let mut l = latencies.lock().unwrap();
                let e = l.entry(second).or_default();
                if ok {
                    e.0.push(sent.elapsed().as_secs_f64() * 1000.0);
                } else {
                    e.1 += 1;
                }
            }
        }));
    }
    for c in clients {
        c.await?;
    }
    let monitored = monitor.stop().await;

    // A run report of this load, built on the sample report's shape.
    let mut report = cicada_report::sample::sample_report();
    let template = report.timeline[0].clone();
    let latencies = latencies.lock().unwrap().clone();
    let (mut total, mut failed) = (0, 0);
    report.timeline = (1..=seconds)
        .map(|t| {
            let (mut l, errors) = latencies.get(&t).cloned().unwrap_or_default();
            l.sort_by(f64::total_cmp);
            let at = |q: f64| {
                l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0.0)
            };
            total += l.len() as u64 + errors;
            failed += errors;
            let mut s = template.clone();
            s.elapsed_s = t;
            s.users = concurrency as u64;
            s.requests = l.len() as u64 + errors;
            s.failures = errors;
            s.rps = s.requests as f64;
            s.failures_per_s = errors as f64;
            s.percentiles = Percentiles {
                p50: at(0.5),
                p95: at(0.95),
                p99: at(0.99),
                ..Percentiles::default()
            };
            s.mean_ms = l.iter().sum::<f64>() / l.len().max(1) as f64;
            s.total_requests = total;
            s.total_failures = failed;
            s.by_request.clear();
            s
        })
        .collect();
    report.requests = Vec::<RequestStats>::new();
    report.failures.clear();
    let mut input = FindingsInput::new(&report);
    input.resources = monitored.resources.as_ref();
    input.scraped = monitored.scraped.as_ref();
    let outcome = analyze(&input, &FindingsConfig::default());
    println!(
        "{} requests, {} failed, over {seconds} s at {concurrency} clients",
        total, failed
    );
    println!("generator: {}", outcome.generator_health.verdict);
    for f in &outcome.findings {
        println!(
            "\n[{:?}] {}\n  {}\n  next: {}",
            f.severity, f.title, f.summary, f.next_step
        );
    }
    Ok(())
}
