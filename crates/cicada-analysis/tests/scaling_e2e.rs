//! Auto-scaling checks end to end: a real HTTP service on 127.0.0.1 with a worker pool (a
//! semaphore of `workers` permits, 20 ms of work per request) and an autoscaler, loaded with a
//! baseline → spike → hold → drop shape by real clients, its worker count read once a second
//! through the Prometheus probe. A pool that scales passes every check; one that never scales
//! fails them, saying why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cicada_analysis::http_get::{HttpUrl, get_text};
use cicada_analysis::scaling::{ProbeRecorder, ScalingLimits, evaluate, names, parse_probe};
use cicada_report::analysis_model::{ScalingPoint, ScalingReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const WORK: Duration = Duration::from_millis(20);
const MIN_WORKERS: usize = 2;
const MAX_WORKERS: usize = 16;

/// (seconds, users): baseline, spike and hold, drop.
const SHAPE: [(u64, usize); 3] = [(6, 2), (14, 20), (14, 2)];

fn users_at(t: u64) -> usize {
    let mut end = 0;
    for (d, u) in SHAPE {
        end += d;
        if t <= end {
            return u;
        }
    }
    SHAPE[SHAPE.len() - 1].1
}

struct Service {
    workers: Semaphore,
    current: AtomicUsize,
    in_flight: AtomicUsize,
    stop: AtomicBool,
}

/// Start the service; with `autoscale`, a task sizes the pool every second to the requests in
/// flight (scale-in waits 3 s, like an HPA stabilisation window). Returns its base URL.
async fn start(autoscale: bool) -> (String, Arc<Service>) {
    let service = Arc::new(Service {
        workers: Semaphore::new(MIN_WORKERS),
        current: AtomicUsize::new(MIN_WORKERS),
        in_flight: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let s = service.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = if buf.starts_with(b"GET /metrics") {
                    format!(
                        "# TYPE pool_workers_current gauge\npool_workers_current {}\n",
                        s.current.load(Ordering::SeqCst)
                    )
                } else {
                    s.in_flight.fetch_add(1, Ordering::SeqCst);
                    let permit = s.workers.acquire().await.unwrap();
                    tokio::time::sleep(WORK).await;
                    drop(permit);
                    s.in_flight.fetch_sub(1, Ordering::SeqCst);
                    "ok".to_owned()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    if autoscale {
        let s = service.clone();
        tokio::spawn(async move {
            let mut low_since: Option<Instant> = None;
            while !s.stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let want = s
                    .in_flight
                    .load(Ordering::SeqCst)
                    .clamp(MIN_WORKERS, MAX_WORKERS);
                let have = s.current.load(Ordering::SeqCst);
                if want > have {
                    s.workers.add_permits(want - have);
                    s.current.store(want, Ordering::SeqCst);
                    low_since = None;
                } else if want < have {
                    let since = *low_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= Duration::from_secs(3) {
                        // Retire workers as they become free.
                        let _ = s
                            .workers
                            .acquire_many((have - want) as u32)
                            .await
                            .map(|p| p.forget());
                        s.current.store(want, Ordering::SeqCst);
                        low_since = None;
                    }
                } else {
                    low_since = None;
                }
            }
        });
    }
    (base, service)
}

/// Drive the shape against `base`, probe once a second, and evaluate the checks.
async fn run(autoscale: bool) -> ScalingReport {
    let (base, service) = start(autoscale).await;
    let work = HttpUrl::parse(&format!("{base}/work")).unwrap();
    let mut probe = ProbeRecorder::new(
        parse_probe(
            &format!("prom:{base}/metrics#pool_workers_current"),
            Duration::from_secs(1),
        )
        .unwrap(),
    );
    let started = Instant::now();
    let total: u64 = SHAPE.iter().map(|s| s.0).sum();
    let latencies: Arc<std::sync::Mutex<BTreeMap<u64, Vec<f64>>>> = Arc::default();
    let errors: Arc<std::sync::Mutex<BTreeMap<u64, u64>>> = Arc::default();

    // Each user slot u runs while users_at(t) > u.
    let mut users = Vec::new();
    for slot in 0..SHAPE.iter().map(|s| s.1).max().unwrap() {
        let (work, latencies, errors) = (work.clone(), latencies.clone(), errors.clone());
        users.push(tokio::spawn(async move {
            loop {
                let t = started.elapsed().as_secs() + 1;
                if t > total {
                    break;
                }
                if users_at(t) <= slot {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let sent = Instant::now();
                let ok = get_text(&work, Duration::from_secs(5)).await.is_ok();
                let second = started.elapsed().as_secs() + 1;
                if ok {
                    let ms = sent.elapsed().as_secs_f64() * 1000.0;
                    latencies
                        .lock()
                        .unwrap()
                        .entry(second)
                        .or_default()
                        .push(ms);
                } else {
                    *errors.lock().unwrap().entry(second).or_default() += 1;
                }
            }
        }));
    }
    for t in 1..=total {
        let due = started + Duration::from_secs(t);
        tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
        let _ = probe.tick(t as f64).await;
    }
    for u in users {
        u.await.unwrap();
    }
    service.stop.store(true, Ordering::SeqCst);

    let latencies = latencies.lock().unwrap().clone();
    let errors = errors.lock().unwrap().clone();
    let points: Vec<ScalingPoint> = (1..=total)
        .map(|t| {
            let mut l = latencies.get(&t).cloned().unwrap_or_default();
            l.sort_by(f64::total_cmp);
            let p95 = l
                .get((l.len() * 95 / 100).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0);
            ScalingPoint {
                elapsed_s: t as f64,
                load: users_at(t) as f64,
                replicas: probe
                    .readings()
                    .iter()
                    .find(|r| r.0 == t as f64)
                    .and_then(|r| r.1),
                p95_ms: p95,
                errors: errors.get(&t).copied().unwrap_or(0),
            }
        })
        .collect();
    let limits = ScalingLimits {
        scale_out_reaction_s: 5.0,
        reach_needed_s: 8.0,
        needed_replicas: Some(10.0),
        slo_p95_ms: 150.0,
        slo_recovery_s: 6.0,
        scale_in_s: 10.0,
        ..ScalingLimits::default()
    };
    evaluate(&probe.describe(), &points, probe.failures(), &limits)
}

fn check<'a>(r: &'a ScalingReport, name: &str) -> &'a cicada_report::analysis_model::ScalingCheck {
    r.checks.iter().find(|c| c.name == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_scales_passes_and_one_that_never_scales_fails_with_the_reason() {
    // Both services run at once (34 s in all).
    let (scaling, fixed) = tokio::join!(run(true), run(false));

    for (label, r) in [("scaling", &scaling), ("fixed", &fixed)] {
        for c in &r.checks {
            eprintln!(
                "{label}: {} {}: {}",
                c.name,
                if c.passed { "pass" } else { "FAIL" },
                c.reason
            );
        }
    }
    assert_eq!(scaling.probe_failures, 0);
    assert!(
        scaling
            .probe
            .starts_with("prometheus: pool_workers_current at http://127.0.0.1:")
    );
    assert!(scaling.passed, "{:#?}", scaling.checks);
    let reaction = check(&scaling, names::SCALE_OUT_REACTION).measured.unwrap();
    assert!(reaction <= 5.0, "{reaction}");
    assert!(!check(&scaling, names::SCALE_IN).skipped);

    assert!(!fixed.passed);
    let c = check(&fixed, names::SCALE_OUT_REACTION);
    assert!(!c.passed);
    assert!(c.reason.contains("replicas stayed at 2"), "{}", c.reason);
    let c = check(&fixed, names::REACH_NEEDED);
    assert!(
        !c.passed
            && c.reason
                .contains("10 replicas were never reached (highest seen: 2)"),
        "{}",
        c.reason
    );
    // 20 users on 2 workers queue for ~200 ms: the SLO is broken and never recovers.
    assert!(!check(&fixed, names::SLO_RECOVERY).passed);
}
