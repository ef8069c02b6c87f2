//! `cicada run --master` / `--worker` end to end: real processes on 127.0.0.1 against a
//! counting server started here. The merged report counts exactly what the server saw and its
//! percentiles are those of the workers' own histograms merged here; a killed worker is marked
//! lost with its data up to its last second; killed coordinators leave every worker's report on
//! disk; every refusal is said on both sides.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::routing::get;
use cicada_report::merge::{Input, MergeOptions, merge};
use serde_json::Value;
use support::{bin, scenario, serve_app};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// Each user waits 100 ms between requests, so a worker's requests in any window are bounded
/// by its users × (window / 100 ms + 1).
const WAIT_MS: f64 = 100.0;
const SCENARIO: &str = "name = \"dist\"\n[[users]]\nwait = { constant = \"100ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/hit\"\n";
/// Generous: the machine is shared and loaded.
const LONG: Duration = Duration::from_secs(120);

/// A server that counts every request it answers.
async fn counting_server() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    let app = Router::new().route(
        "/hit",
        get(move || {
            let c = Arc::clone(&c);
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    (serve_app(app).await, count)
}

/// A running `cicada` process whose stderr is collected.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(args: &[&str], dir: &Path) -> Proc {
        let mut child = Command::new(bin())
            .args(args)
            .current_dir(dir)
            .env_remove("CICADA_MASTER_TOKEN")
            .env_remove("CICADA_WEB_AUTH_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let l = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut l = l.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Proc { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until stderr holds `needle`; returns the line it is on.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + LONG;
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on stderr:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn exit_code(&mut self) -> i32 {
        let status = tokio::time::timeout(LONG, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("did not exit:\n{}", self.log()))
            .unwrap();
        // Let the stderr reader drain.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status.code().unwrap_or(-1)
    }
}

/// A coordinator on a free port; returns it and its port.
async fn coordinator(args: &[&str], dir: &Path) -> (Proc, u16) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend(["--master", "--master-bind-port", "0"]);
    let p = Proc::spawn(&all, dir);
    let line = p.wait_for("coordinator listening on ").await;
    let addr = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    (p, port)
}

fn worker(scenario: &Path, port: u16, dir: &Path, extra: &[&str]) -> Proc {
    let port = port.to_string();
    let mut all = vec![
        "run",
        scenario.to_str().unwrap(),
        "--worker",
        "--master-port",
        &port,
    ];
    all.extend_from_slice(extra);
    Proc::spawn(&all, dir)
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn requests(r: &Value) -> u64 {
    r["aggregated"]["requests"].as_u64().unwrap()
}

fn workers_of(r: &Value) -> Vec<Value> {
    r["merged"]["workers"].as_array().unwrap().clone()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn valid(report: &Value) {
    let v = cicada_testkit::schema_validator();
    let errors: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_make_one_exact_run() {
    let (host, count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let merged_json = dir.path().join("merged.json");
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "6",
            "-r",
            "100",
            "-t",
            "4s",
            "--expect-workers",
            "3",
            // Not a fault test: a stall of the loaded machine must not lose a worker.
            "--heartbeat-timeout",
            "60s",
            "--json",
            s(&merged_json),
            "-q",
        ],
        dir.path(),
    )
    .await;
    let jsons: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("w{i}.json")))
        .collect();
    let mut workers: Vec<Proc> = jsons
        .iter()
        .map(|j| {
            worker(
                &path,
                port,
                dir.path(),
                &["--json", s(j), "--heartbeat-timeout", "60s"],
            )
        })
        .collect();
    assert_eq!(master.exit_code().await, 0, "{}", master.log());
    for w in &mut workers {
        assert_eq!(w.exit_code().await, 0, "{}", w.log());
    }
    let merged = read(&merged_json);
    valid(&merged);
    // Every request the server answered is in the merged report, and nothing else.
    assert_eq!(requests(&merged), count.load(Ordering::SeqCst));
    assert!(requests(&merged) > 0);
    // The merged report is the exact merge of the workers' own reports.
    let inputs: Vec<Input> = jsons.iter().map(|j| Input::read(j).unwrap()).collect();
    let own: u64 = inputs.iter().map(|i| i.report.aggregated.requests).sum();
    assert_eq!(own, requests(&merged));
    assert!(
        inputs.iter().all(|i| i.report.aggregated.requests > 0),
        "every worker sent load"
    );
    let expected = merge(&inputs, &MergeOptions::default()).unwrap().report;
    let m = &merged["aggregated"];
    // The same recorded values (the encoding's header, e.g. its trackable range, may follow the
    // order the workers were merged in, which is their order of attaching).
    let buckets = |text: Option<&str>| -> Vec<(u64, u64)> {
        let h = cicada_report::histogram::decode(text.expect("a histogram")).expect("decodes");
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    assert_eq!(
        buckets(m["histogram"].as_str()),
        buckets(expected.aggregated.histogram.as_deref())
    );
    for (col, value) in [
        ("p50", expected.aggregated.percentiles.p50),
        ("p95", expected.aggregated.percentiles.p95),
        ("p99", expected.aggregated.percentiles.p99),
    ] {
        assert_eq!(m["percentiles"][col].as_f64(), Some(value), "{col}");
    }
    // The users split exactly: 6 over 3 workers.
    let peaks: u64 = inputs
        .iter()
        .map(|i| i.report.run.user_types[0].peak_users)
        .sum();
    assert_eq!(peaks, 6);
    let rows = workers_of(&merged);
    assert_eq!(rows.len(), 3);
    for (i, w) in rows.iter().enumerate() {
        assert_eq!(w["live"]["index"], i as u64);
        assert_eq!(w["live"]["status"], "done", "{w}");
        assert!(w["requests"].as_u64().unwrap() > 0);
    }
    assert_eq!(merged["verdict"]["passed"], true);
    let segments = merged["merged"]["segments"].as_str().unwrap();
    assert!(segments.ends_with("= the whole run (0:1)"), "{segments}");
    assert!(
        merged["run"]["plan"]["description"]
            .as_str()
            .unwrap()
            .contains("split over 3 workers")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_lost_and_the_rest_carry_on() {
    let (host, count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let merged_json = dir.path().join("merged.json");
    let merged_html = dir.path().join("merged.html");
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "6",
            "-r",
            "100",
            "-t",
            "8s",
            "--expect-workers",
            "3",
            "--html",
            s(&merged_html),
            "--json",
            s(&merged_json),
            "-q",
        ],
        dir.path(),
    )
    .await;
    let jsons: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("w{i}.json")))
        .collect();
    let mut workers: Vec<Proc> = jsons
        .iter()
        .map(|j| worker(&path, port, dir.path(), &["--json", s(j)]))
        .collect();
    for w in &workers {
        w.wait_for("this worker's part").await;
    }
    // Kill one once it has sent a few seconds of data.
    master.wait_for("attached: ").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let line = workers[1].wait_for("attached to the coordinator").await;
    let index: u64 = line
        .split("worker ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    workers[1].child.start_kill().unwrap();
    let killed_at = SystemTime::now();
    assert_ne!(workers[1].exit_code().await, 0);
    assert_eq!(master.exit_code().await, 0, "{}", master.log());
    assert!(master.log().contains("lost at"), "{}", master.log());
    for i in [0, 2] {
        assert_eq!(workers[i].exit_code().await, 0, "{}", workers[i].log());
    }
    let merged = read(&merged_json);
    valid(&merged);
    let row = workers_of(&merged)
        .into_iter()
        .find(|w| w["live"]["index"] == index)
        .unwrap();
    assert_eq!(row["live"]["status"], "lost", "{row}");
    let html = std::fs::read_to_string(&merged_html).unwrap();
    assert!(
        html.contains("LOST (its data up to then is counted)"),
        "the page says which worker was lost"
    );
    let last_seen = row["live"]["last_seen_s"].as_f64().unwrap();
    assert!(last_seen >= 1.0, "{row}");
    assert!(
        merged["verdict"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("was lost")),
        "{}",
        merged["verdict"]
    );
    // Its requests up to its last second are counted …
    let survivors: u64 = [0, 2].iter().map(|&i| requests(&read(&jsons[i]))).sum();
    let lost_counted = requests(&merged) - survivors;
    assert!(lost_counted > 0, "the lost worker's data is kept");
    assert_eq!(row["requests"].as_u64().unwrap(), lost_counted);
    // … and the server saw at most what it made between its last second and the kill: each
    // of its 2 users makes a request per 100 ms at most.
    let seen = count.load(Ordering::SeqCst);
    assert!(seen >= requests(&merged));
    let started = chrono_secs(merged["run"]["started_at"].as_str().unwrap());
    let killed = killed_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let window = (killed - started - last_seen).max(0.0) + 2.0;
    let bound = 2.0 * (window * 1000.0 / WAIT_MS + 1.0);
    assert!(
        (seen - requests(&merged)) as f64 <= bound,
        "server saw {seen}, report has {} (window {window:.1} s, bound {bound})",
        requests(&merged)
    );
}

/// Seconds since the epoch of an RFC 3339 time.
fn chrono_secs(t: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_micros() as f64
        / 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_of_a_killed_coordinator_stop_and_leave_their_reports() {
    let (host, _count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "3",
            "-r",
            "100",
            "-t",
            "60s",
            "--expect-workers",
            "3",
        ],
        dir.path(),
    )
    .await;
    let mut workers: Vec<Proc> = (0..3)
        .map(|_| worker(&path, port, dir.path(), &["--heartbeat-timeout", "3s"]))
        .collect();
    for w in &workers {
        w.wait_for("this worker's part").await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    master.child.start_kill().unwrap();
    let killed = Instant::now();
    let _ = master.exit_code().await;
    for w in &mut workers {
        assert_eq!(w.exit_code().await, 4, "{}", w.log());
        assert!(w.log().contains("the coordinator was lost"), "{}", w.log());
        let line = w.wait_for("this worker's own report of the run: ").await;
        let file = line.rsplit(": ").next().unwrap().trim();
        assert!(file.starts_with("cicada-worker-"), "{line}");
        let report = read(&dir.path().join(file));
        valid(&report);
        assert!(requests(&report) > 0);
        assert_eq!(report["run"]["interrupted"], true);
    }
    // Far below the 60 s run: they stopped on the loss, not at the end.
    assert!(killed.elapsed() < Duration::from_secs(45));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_said_on_both_sides() {
    let (host, _count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let other_dir = tempfile::tempdir().unwrap();
    let other = scenario(
        other_dir.path(),
        &SCENARIO.replace("name = \"dist\"", "name = \"other\""),
    );
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "1",
            "-t",
            "6s",
            "--expect-workers",
            "1",
            "--master-auth-token",
            "t0ken",
        ],
        dir.path(),
    )
    .await;
    // Another scenario: refused.
    let mut w = worker(&other, port, dir.path(), &["--master-auth-token", "t0ken"]);
    assert_eq!(w.exit_code().await, 2, "{}", w.log());
    assert!(w.log().contains("scenario mismatch"), "{}", w.log());
    master.wait_for("scenario mismatch").await;
    // No token, a wrong token: refused.
    let mut w = worker(&path, port, dir.path(), &[]);
    assert_eq!(w.exit_code().await, 2, "{}", w.log());
    assert!(w.log().contains("no token"), "{}", w.log());
    let mut w = worker(&path, port, dir.path(), &["--master-auth-token", "wrong"]);
    assert_eq!(w.exit_code().await, 2, "{}", w.log());
    assert!(w.log().contains("bad token"), "{}", w.log());
    assert!(!master.log().contains("wrong"), "a token is never logged");
    // Another version: refused (a hand-made hello, as an older cicada would send).
    let reason = raw_hello(port, "0.0.0-other", "t0ken", &path).await;
    assert!(reason.contains("version mismatch"), "{reason}");
    master.wait_for("version mismatch").await;
    // A second coordinator on the same port cannot bind.
    let p = port.to_string();
    let o = Command::new(bin())
        .args([
            "run",
            s(&path),
            "-H",
            &host,
            "-u",
            "1",
            "-t",
            "1s",
            "--master",
            "--master-bind-port",
            &p,
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(4), "{text}");
    assert!(text.contains("address is in use"), "{text}");
    // The right worker runs; one joining after the start is late.
    let mut good = worker(&path, port, dir.path(), &["--master-auth-token", "t0ken"]);
    good.wait_for("this worker's part").await;
    let mut late = worker(&path, port, dir.path(), &["--master-auth-token", "t0ken"]);
    assert_eq!(late.exit_code().await, 2, "{}", late.log());
    assert!(late.log().contains("late"), "{}", late.log());
    assert_eq!(good.exit_code().await, 0, "{}", good.log());
    assert_eq!(master.exit_code().await, 0, "{}", master.log());
    assert!(master.log().contains("refused worker"), "{}", master.log());
}

/// Send a hello of `version` by hand; returns the refusal's reason.
async fn raw_hello(port: u16, version: &str, token: &str, scenario: &Path) -> String {
    use cicada_dist::protocol::{
        Hello, PROTOCOL, ToCoordinator, ToWorker, read_magic, read_msg, write_magic, write_msg,
    };
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    write_magic(&mut stream).await.unwrap();
    let hello = Hello {
        protocol: PROTOCOL,
        version: version.into(),
        scenario: "dist".into(),
        scenario_hash: cicada_dist::identity::scenario_hash(&std::fs::read(scenario).unwrap()),
        hostname: "test".into(),
        pid: 1,
        token: Some(token.into()),
    };
    write_msg(&mut stream, &ToCoordinator::Hello(hello))
        .await
        .unwrap();
    read_magic(&mut stream).await.unwrap();
    match read_msg::<_, ToWorker>(&mut stream).await.unwrap() {
        Some(ToWorker::Refuse { reason }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_setups_fail_clearly() {
    let (host, _count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    // Beyond loopback without a token: refused before listening.
    let o = Command::new(bin())
        .args([
            "run",
            s(&path),
            "-H",
            &host,
            "-u",
            "1",
            "--master",
            "--master-bind-host",
            "0.0.0.0",
        ])
        .env_remove("CICADA_MASTER_TOKEN")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("--master-auth-token"), "{text}");
    // Not every worker within --expect-workers-max-wait: nothing is started.
    let (mut master, _port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "1",
            "-t",
            "1s",
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "1",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(master.exit_code().await, 2, "{}", master.log());
    assert!(
        master.log().contains("0 of 2 workers attached within 1 s"),
        "{}",
        master.log()
    );
    // Hand-split flags are a worker's own business, not a coordinator's.
    let o = Command::new(bin())
        .args([
            "run",
            s(&path),
            "-H",
            &host,
            "-u",
            "1",
            "--master",
            "--master-bind-port",
            "0",
            "--execution-segment",
            "0:1/2",
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("splits its run over --expect-workers"),
        "{text}"
    );
    // A worker pointed at something that is not a coordinator (the HTTP server).
    let http_port = host.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let mut w = worker(&path, http_port, dir.path(), &[]);
    assert_eq!(w.exit_code().await, 3, "{}", w.log());
    assert!(
        w.log().contains("did not complete the handshake"),
        "{}",
        w.log()
    );
}

/// One HTTP/1.1 request to the web UI; returns the status and the body.
async fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_steers_the_workers() {
    let (host, count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let merged_json = dir.path().join("merged.json");
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "60s",
            "--expect-workers",
            "2",
            "--heartbeat-timeout",
            "60s",
            "--web",
            "--web-port",
            "0",
            "--json",
            s(&merged_json),
        ],
        dir.path(),
    )
    .await;
    let line = master.wait_for("web UI on http://").await;
    let web_port: u16 = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Before the workers: a start is refused, saying why.
    let (code, body) = http(web_port, "POST", "/api/start", "{}").await;
    assert!(code >= 400, "{code} {body}");
    assert!(body.contains("workers are attached"), "{body}");
    let mut workers: Vec<Proc> = (0..2)
        .map(|_| worker(&path, port, dir.path(), &[]))
        .collect();
    master.wait_for("(2 of 2 workers)").await;
    // A third is one too many.
    let reason = raw_hello(port, env!("CARGO_PKG_VERSION"), "", &path).await;
    assert!(reason.contains("too many workers"), "{reason}");
    poll(|| async {
        let (code, body) = http(web_port, "POST", "/api/start", "{}").await;
        (code < 300).then_some(body)
    })
    .await;
    // The snapshot shows the merged numbers of both workers.
    poll(|| async {
        let (_, body) = http(web_port, "GET", "/api/snapshot", "").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["total_requests"].as_u64()? > 0 && v["users"].as_u64()? == 2).then_some(())
    })
    .await;
    let (code, body) = http(
        web_port,
        "POST",
        "/api/users",
        r#"{"users": 6, "spawn_rate": 100}"#,
    )
    .await;
    assert!(code < 300, "{code} {body}");
    poll(|| async {
        let (_, body) = http(web_port, "GET", "/api/snapshot", "").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["users"].as_u64()? == 6).then_some(())
    })
    .await;
    let (code, body) = http(web_port, "POST", "/api/stop", "").await;
    assert!(code < 300, "{code} {body}");
    poll(|| async { merged_json.exists().then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let merged = read(&merged_json);
    valid(&merged);
    assert_eq!(requests(&merged), count.load(Ordering::SeqCst));
    let peaks: u64 = workers_of(&merged)
        .iter()
        .map(|w| w["live"]["users"].as_u64().unwrap_or(0))
        .sum();
    let _ = peaks;
    assert_eq!(
        merged["run"]["user_types"][0]["peak_users"], 6,
        "rebalanced to 6 users in all"
    );
    master.child.start_kill().unwrap();
    let _ = master.exit_code().await;
    for w in &mut workers {
        let _ = w.exit_code().await;
    }
}

async fn poll<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + LONG;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `kill -SIG pid` (the tool, so the test needs no libc).
async fn signal(sig: &str, pid: u32) {
    let o = Command::new("kill")
        .args([sig, &pid.to_string()])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_is_lost_after_the_heartbeat_timeout() {
    let (host, _count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let merged_json = dir.path().join("merged.json");
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "10s",
            "--expect-workers",
            "2",
            "--heartbeat-timeout",
            "2s",
            "--json",
            s(&merged_json),
            "-q",
        ],
        dir.path(),
    )
    .await;
    let mut workers: Vec<Proc> = (0..2)
        .map(|_| worker(&path, port, dir.path(), &[]))
        .collect();
    for w in &workers {
        w.wait_for("this worker's part").await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Frozen, its connection open: only the missing heartbeats tell.
    let pid = workers[0].child.id().unwrap();
    signal("-STOP", pid).await;
    master.wait_for("nothing heard from it for 2 s").await;
    signal("-CONT", pid).await;
    // Woken, it finds the coordinator gone from its side and keeps its own report.
    assert_eq!(workers[0].exit_code().await, 4, "{}", workers[0].log());
    let line = workers[0]
        .wait_for("this worker's own report of the run: ")
        .await;
    let file = line.rsplit(": ").next().unwrap().trim();
    valid(&read(&dir.path().join(file)));
    assert_eq!(master.exit_code().await, 0, "{}", master.log());
    assert_eq!(workers[1].exit_code().await, 0, "{}", workers[1].log());
    let merged = read(&merged_json);
    let statuses: Vec<String> = workers_of(&merged)
        .iter()
        .map(|w| w["live"]["status"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, ["done", "lost"], "{statuses:?}");
}

/// `--abort-on-threshold-fail`: a threshold that fails on the merged numbers stops every
/// worker long before the run time, and the run fails, with every request still counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_failing_on_the_merged_numbers_aborts_the_run() {
    let (host, count) = counting_server().await;
    let dir = tempfile::tempdir().unwrap();
    // Eight users 100 ms apart make about 80 req/s: `rps<1` fails as soon as there is data.
    let text = SCENARIO.replacen(
        "name = \"dist\"\n",
        "name = \"dist\"\nthresholds = [\"rps<1\"]\n",
        1,
    );
    let path = scenario(dir.path(), &text);
    let merged_json = dir.path().join("merged.json");
    let started = Instant::now();
    let (mut master, port) = coordinator(
        &[
            s(&path),
            "-H",
            &host,
            "-u",
            "8",
            "-r",
            "100",
            "-t",
            "120s",
            "--expect-workers",
            "2",
            "--heartbeat-timeout",
            "60s",
            "--abort-on-threshold-fail",
            "2s",
            "--json",
            s(&merged_json),
            "-q",
        ],
        dir.path(),
    )
    .await;
    let mut workers: Vec<Proc> = (0..2)
        .map(|_| worker(&path, port, dir.path(), &["--heartbeat-timeout", "60s"]))
        .collect();
    assert_eq!(master.exit_code().await, 1, "{}", master.log());
    for w in &mut workers {
        w.exit_code().await;
    }
    // Far sooner than the run time (judged relative to it, not in absolute seconds).
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "{:?}",
        started.elapsed()
    );
    assert!(
        master
            .log()
            .contains("--abort-on-threshold-fail stopped the run"),
        "{}",
        master.log()
    );
    let merged = read(&merged_json);
    valid(&merged);
    let verdict = &merged["verdict"];
    assert_eq!(verdict["passed"], false);
    let first = verdict["warnings"][0].as_str().unwrap();
    assert!(first.starts_with("threshold rps<1 failed at "), "{first}");
    assert!(
        merged["run"]["duration_s"].as_f64().unwrap() < 60.0,
        "{}",
        merged["run"]
    );
    assert_eq!(requests(&merged), count.load(Ordering::SeqCst));
    assert!(requests(&merged) > 0);
}
