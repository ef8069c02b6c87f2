//! End to end: the database findings on a real dryad, from its `Server-Timing` headers.
//!
//! dryad with a one-connection pool, driven by the real `cicada run --scrape` with 8 users
//! and no think time, makes every request queue for the connection: the report's findings
//! hold the connection-pool and database-bound findings, critical, with the pool wait's share
//! of response time as evidence; the per-row database share is above 0 for the database route
//! and 0 for the route that never touches the database. The negative control: the same load
//! on dryad's default pool of 8 yields neither finding.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cicada_report::RunReport;
use cicada_report::analysis_model::{Finding, FindingKind, Severity};
use cicada_report::model::RequestStats;

/// `/ready` pings the database through the pool; `/health` never touches it.
const SCENARIO: &str = r#"
name = "pool-pressure"

[[users]]
name = "prober"

[[users.tasks]]
weight = 4
method = "GET"
path = "/ready"

[[users.tasks]]
weight = 1
method = "GET"
path = "/health"
"#;

fn target_dir() -> PathBuf {
    // target/<profile>/deps/<test> -> target/<profile>
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build -p dryad -p cicada-cli`)",
        path.display()
    );
    path
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("dryad-suite-db-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pool.toml"), SCENARIO).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dryad process, killed on drop.
struct Dryad {
    child: Child,
    base: String,
}

impl Drop for Dryad {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ready(base: &str) -> bool {
    let url = cicada_analysis::http_get::HttpUrl::parse(&format!("{base}/ready")).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(cicada_analysis::http_get::get_text(
            &url,
            Duration::from_secs(2),
        ))
        .is_ok()
}

fn start_dryad(scratch: &Scratch, pool_size: u32) -> Dryad {
    let port = free_port();
    let db = format!(
        "sqlite://{}",
        scratch.path(&format!("pool{pool_size}.db")).display()
    );
    let child = Command::new(bin("dryad"))
        .args(["serve", "--database-url", &db])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--pool-size", &pool_size.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dryad = Dryad {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(&dryad.base) {
        assert!(Instant::now() < deadline, "dryad never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    dryad
}

/// 8 users without think time for 8 s, scraping dryad's `/metrics`.
fn run(scratch: &Scratch, dryad: &Dryad, name: &str) -> RunReport {
    let json = scratch.path(&format!("{name}.json"));
    let out = Command::new(bin("cicada"))
        .arg("run")
        .arg(scratch.path("pool.toml"))
        .args(["-H", &dryad.base, "-u", "8", "-r", "8", "-t", "8s"])
        .args(["--scrape", &format!("{}/metrics", dryad.base)])
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cicada failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    RunReport::from_json(&std::fs::read_to_string(json).expect("report written"))
        .expect("a valid report")
}

fn row<'a>(report: &'a RunReport, name: &str) -> &'a RequestStats {
    report
        .requests
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

fn finding(report: &RunReport, kind: FindingKind) -> Option<&Finding> {
    report
        .analysis
        .as_ref()
        .expect("analysis attached")
        .findings
        .iter()
        .find(|f| f.kind == kind)
}

#[test]
fn a_one_connection_pool_is_found_and_a_normal_pool_is_not() {
    let scratch = Scratch::new("findings");

    // Tiny pool: every request queues for the one connection.
    let tiny = {
        let dryad = start_dryad(&scratch, 1);
        run(&scratch, &dryad, "tiny")
    };
    assert_eq!(tiny.aggregated.failures, 0, "{:?}", tiny.failures);
    let ready = row(&tiny, "/ready")
        .server_timing
        .clone()
        .expect("dryad sends Server-Timing");
    assert!(ready.db_share > 0.0, "{ready:?}");
    assert!(ready.pool_wait_mean_ms > 1.0, "{ready:?}");
    let health = row(&tiny, "/health").server_timing.clone().unwrap();
    assert_eq!((health.db_share, health.pool_share), (0.0, 0.0));
    assert!(
        tiny.timeline
            .iter()
            .filter_map(|s| s.server_timing.as_ref())
            .any(|t| t.db_share > 0.0),
        "a per-second database share"
    );
    let summary = |f: &Finding| format!("{}: {} {:?}", f.title, f.summary, f.evidence);
    let pool = finding(&tiny, FindingKind::ConnectionPoolSaturated)
        .unwrap_or_else(|| panic!("pool finding in {:#?}", tiny.analysis));
    assert_eq!(pool.severity, Severity::Critical, "{}", summary(pool));
    assert!(pool.window.is_some());
    assert!(!pool.next_step.is_empty());
    let share = pool
        .evidence
        .iter()
        .find(|e| e.label == "pool wait, share of response time")
        .unwrap_or_else(|| panic!("{}", summary(pool)));
    assert!(share.value > 50.0, "{}", summary(pool));
    let db = finding(&tiny, FindingKind::DatabaseBound)
        .unwrap_or_else(|| panic!("database finding in {:#?}", tiny.analysis));
    assert!(
        db.summary.contains("Server-Timing pool") && db.summary.contains("GET /ready"),
        "{}",
        summary(db)
    );
    assert_eq!(db.severity, Severity::Critical);

    // The same load on dryad's default pool: no pool or database finding.
    let normal = {
        let dryad = start_dryad(&scratch, 8);
        run(&scratch, &dryad, "normal")
    };
    assert_eq!(normal.aggregated.failures, 0);
    let ready = row(&normal, "/ready").server_timing.clone().unwrap();
    assert!(ready.db_share > 0.0, "{ready:?}");
    for kind in [
        FindingKind::ConnectionPoolSaturated,
        FindingKind::DatabaseBound,
    ] {
        assert!(
            finding(&normal, kind).is_none(),
            "{kind:?} with a normal pool: {:#?} (rows: {ready:?})",
            normal.analysis.as_ref().unwrap().findings
        );
    }
}
