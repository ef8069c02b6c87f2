//! `cicada run` with analysis, end to end against a real axum server in this process:
//! resources (generator, system, and the target by `--target-pid`), `--scrape` of the
//! server's `/metrics`, findings and generator health in the JSON and the summary, and the
//! auto-scaling checks of `--scaling-probe` against a server whose worker gauge follows the
//! load and one whose gauge never moves.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use support::{cicada, serve_app, text};

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    workers: AtomicU64,
}

/// A server with `/x` (20 ms of work) and `/metrics`; when `scales`, a background task sets
/// the `app_workers_current` gauge from the request rate of the last half second (1 below
/// 250 req/s, 3 above), like an autoscaled pool; otherwise it stays at 1.
async fn serve(scales: bool) -> String {
    let c = Arc::new(Counters::default());
    c.workers.store(1, Ordering::Relaxed);
    let app = Router::new()
        .route(
            "/x",
            get(|State(c): State<Arc<Counters>>| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                c.requests.fetch_add(1, Ordering::Relaxed);
                "ok"
            }),
        )
        .route(
            "/metrics",
            get(|State(c): State<Arc<Counters>>| async move {
                format!(
                    "# TYPE app_requests_total counter\napp_requests_total {}\n\
                     # TYPE app_workers_current gauge\napp_workers_current {}\n",
                    c.requests.load(Ordering::Relaxed),
                    c.workers.load(Ordering::Relaxed)
                )
            }),
        )
        .with_state(c.clone());
    if scales {
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = c.requests.load(Ordering::Relaxed);
                let rate = (now - last) * 2;
                last = now;
                c.workers
                    .store(if rate < 250 { 1 } else { 3 }, Ordering::Relaxed);
            }
        });
    }
    serve_app(app).await
}

const SCENARIO: &str =
    "name = \"analysis\"\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_tracks_resources_scrapes_and_attaches_findings() {
    let host = serve(false).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("load.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let json = dir.path().join("report.json");
    let pid = std::process::id().to_string();
    let metrics = format!("{host}/metrics");
    let o = cicada(&[
        "run",
        scenario.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "4s",
        "--target-pid",
        &pid,
        "--scrape",
        &metrics,
        "--scrape-metrics",
        "app_requests_*",
        "--json",
        json.to_str().unwrap(),
    ])
    .await;
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let header = stdout
        .lines()
        .position(|l| l.starts_with("Type"))
        .expect("the table");
    for line in stdout.lines().skip(header).take_while(|l| !l.is_empty()) {
        assert!(
            line.chars().count() <= 110,
            "wider than 110 columns: {line:?}"
        );
    }
    let r = read_json(&json);
    let a = &r["analysis"];
    let res = &a["resources"];
    let samples = |p: &serde_json::Value| p["samples"].as_array().map_or(0, Vec::len);
    assert!(samples(&res["generator"]) >= 3, "{res}");
    assert_eq!(
        res["target"]["pid"].as_u64(),
        Some(u64::from(std::process::id())),
        "{res}"
    );
    assert!(samples(&res["target"]) >= 3, "{res}");
    assert!(
        res["system"].as_array().is_some_and(|s| s.len() >= 3),
        "{res}"
    );
    let scraped = a["scraped"].to_string();
    assert!(scraped.contains("app_requests_total"), "{scraped}");
    assert!(
        !scraped.contains("app_workers_current"),
        "the selection keeps only app_requests_*: {scraped}"
    );
    assert!(a["generator_health"]["verdict"].is_string(), "{a}");
    assert!(a["findings"].is_array(), "{a}");
}

fn scaling_args<'a>(
    scenario: &'a str,
    host: &'a str,
    probe: &'a str,
    json: &'a str,
) -> Vec<&'a str> {
    vec![
        "run",
        scenario,
        "-H",
        host,
        "-q",
        "--json",
        json,
        // baseline → spike → hold → drop
        "--stage",
        "1s:2",
        "--stage",
        "5s:2",
        "--stage",
        "1s:24",
        "--stage",
        "8s:24",
        "--stage",
        "1s:2",
        "--stage",
        "8s:2",
        "--scaling-probe",
        probe,
        "--scale-out-within",
        "5s",
        "--scale-reach-within",
        "8s",
        "--scale-slo-p95",
        "1000",
        "--scale-recovery-within",
        "10s",
        "--scale-in-within",
        "5s",
        "--scale-max-errors",
        "0",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_checks_pass_when_the_pool_follows_the_load_and_fail_when_it_never_scales() {
    for scales in [true, false] {
        let host = serve(scales).await;
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("load.toml");
        std::fs::write(&scenario, SCENARIO).unwrap();
        let json = dir.path().join("report.json");
        let probe = format!("prom:{host}/metrics#app_workers_current");
        let args = scaling_args(
            scenario.to_str().unwrap(),
            &host,
            &probe,
            json.to_str().unwrap(),
        );
        let o = cicada(&args).await;
        let t = text(&o);
        let s = &read_json(&json)["analysis"]["scaling"];
        assert_eq!(s["passed"], scales, "scales={scales}: {s}\n{t}");
        assert!(
            t.contains("Auto-scaling (prometheus: app_workers_current"),
            "{t}"
        );
        if scales {
            assert_eq!(o.status.code(), Some(0), "{t}");
        } else {
            assert_eq!(o.status.code(), Some(1), "{t}");
            let failed: Vec<_> = s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["passed"] == false)
                .collect();
            assert!(
                !failed.is_empty()
                    && failed
                        .iter()
                        .all(|c| c["reason"].as_str().is_some_and(|r| !r.is_empty())),
                "{s}"
            );
            assert!(t.contains("FAIL scale_out"), "{t}");
        }
    }
}

/// `--target-pid` of a wrapper shell whose child does the work: with `--target-tree` the
/// child's CPU is the target's, the limit is reported, and the summary says both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_tree_samples_the_busy_child_of_a_wrapper() {
    use std::os::unix::process::CommandExt as _;
    let host = serve(false).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("load.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let json = dir.path().join("report.json");
    // Bounded by `timeout` whatever happens; its group is killed at the end.
    let mut wrapper = std::process::Command::new("timeout")
        .args([
            "30",
            "sh",
            "-c",
            "sh -c 'i=0; while [ $i -lt 300000000 ]; do i=$((i+1)); done'; true",
        ])
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = wrapper.id().to_string();
    let o = cicada(&[
        "run",
        scenario.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "3s",
        "--target-pid",
        &pid,
        "--target-tree",
        "--json",
        json.to_str().unwrap(),
    ])
    .await;
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status();
    let _ = wrapper.wait();
    let t = text(&o);
    let r = read_json(&json);
    let target = &r["analysis"]["resources"]["target"];
    assert_eq!(target["tree"], serde_json::Value::Bool(true), "{target}");
    let cpu: Vec<f64> = target["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cpu_core_pct"].as_f64().unwrap())
        .collect();
    // The wrapper only waits; its busy child gets a good share of a core even on a shared
    // machine.
    let peak = cpu.iter().copied().fold(0.0, f64::max);
    assert!(peak > 10.0, "the child's CPU is the tree's: {cpu:?}");
    assert!(
        target["cpu_limit"]["cores"].as_f64().unwrap() > 0.0,
        "{target}"
    );
    assert!(
        t.contains(&format!("Target (pid {pid}, its process tree): ")),
        "{t}"
    );
    // Without --target-pid the flag is refused before anything is sent.
    let o = cicada(&[
        "run",
        scenario.to_str().unwrap(),
        "-H",
        &host,
        "--target-tree",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
