//! End to end: the real `cicada` binary runs the DRYAD scenario (`tests/load/dryad.toml`) against
//! a real `dryad` process on loopback.
//!
//! - the report's request counts equal dryad's own `/metrics` counters, route by route, exactly;
//! - the managed-target flow (`--target-cmd`, `--target-ready`) starts dryad, runs, stops it, and
//!   leaves no process behind — also when the target fails to start and when the run is
//!   interrupted with SIGINT.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cicada_analysis::http_get::{HttpUrl, get_text};
use cicada_analysis::prom::parse_text;
use cicada_report::RunReport;

/// The two binaries, from the target directory this test was built into.
struct Bins {
    cicada: PathBuf,
    dryad: PathBuf,
}

fn bins() -> Bins {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bins = Bins {
        cicada: dir.join("cicada"),
        dryad: dir.join("dryad"),
    };
    for bin in [&bins.cicada, &bins.dryad] {
        assert!(
            bin.exists(),
            "{} is missing: build the workspace first (`cargo test --workspace` does)",
            bin.display()
        );
    }
    bins
}

/// A scratch directory holding one test's database, scenario copy, data and reports. Its path is
/// also the marker by which leftover processes are found.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dryad-suite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/dryad.toml");
        std::fs::copy(scenario, dir.join("dryad.toml")).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.path("dryad.db").display())
    }

    /// Seed a small history and export its agent ids for the scenario's feeder.
    fn seed(&self, bins: &Bins) {
        let out = Command::new(&bins.dryad)
            .args(["seed", "--database-url", &self.database_url()])
            .args(["--agents", "20", "--executions-per-agent", "20"])
            .arg("--export-agents")
            .arg(self.path("data/agents.csv"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "seed failed: {}", text(&out.stderr));
    }

    /// PIDs of live processes whose command line mentions this scratch directory.
    fn processes(&self) -> Vec<u32> {
        let marker = self.0.to_string_lossy().into_owned();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&marker) {
                pids.push(pid);
            }
        }
        pids
    }

    fn report(&self) -> RunReport {
        let json = std::fs::read_to_string(self.path("report.json")).expect("report.json written");
        RunReport::from_json(&json).expect("a valid report")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn get(url: &str) -> Option<String> {
    let url = HttpUrl::parse(url).unwrap();
    runtime()
        .block_on(get_text(&url, Duration::from_secs(2)))
        .ok()
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if get(&format!("{base}/ready")).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("dryad at {base} never became ready");
}

/// Processes a test started are gone shortly after cicada exits; give them a moment.
fn assert_nothing_left(scratch: &Scratch) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = scratch.processes();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cicada_run(bins: &Bins, scratch: &Scratch, args: &[&str]) -> Command {
    let mut cmd = Command::new(&bins.cicada);
    cmd.arg("run")
        .arg(scratch.path("dryad.toml"))
        .args(args)
        .arg("--json")
        .arg(scratch.path("report.json"))
        .arg("--quiet")
        .stdin(Stdio::null());
    cmd
}

/// A dryad started by cicada itself (`--target-cmd`) on a free port, over the scratch database.
struct Managed {
    target_cmd: String,
    ready: String,
    host: String,
}

impl Managed {
    fn new(bins: &Bins, scratch: &Scratch) -> Self {
        let port = free_port();
        Managed {
            target_cmd: format!(
                "exec '{}' serve --database-url '{}' --bind 127.0.0.1:{port}",
                bins.dryad.display(),
                scratch.database_url()
            ),
            ready: format!("http://127.0.0.1:{port}/ready"),
            host: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `cicada run` of 5 users for `run_time` against the managed dryad.
    fn run(&self, bins: &Bins, scratch: &Scratch, run_time: &str) -> Command {
        let mut cmd = cicada_run(
            bins,
            scratch,
            &["-H", &self.host, "-u", "5", "-r", "5", "-t", run_time],
        );
        cmd.args([
            "--target-cmd",
            &self.target_cmd,
            "--target-ready",
            &self.ready,
        ]);
        cmd
    }
}

/// `dryad_http_requests_total` summed over status codes, by (method, route template).
fn dryad_request_counts(base: &str) -> BTreeMap<(String, String), u64> {
    let text = get(&format!("{base}/metrics")).expect("/metrics answers");
    let mut counts = BTreeMap::new();
    for family in parse_text(&text).expect("valid Prometheus text") {
        for sample in family.samples {
            if sample.name != "dryad_http_requests_total" {
                continue;
            }
            let key = (
                sample.labels["method"].clone(),
                sample.labels["route"].clone(),
            );
            *counts.entry(key).or_insert(0) += sample.value as u64;
        }
    }
    counts
}

#[test]
fn report_counts_equal_dryads_own_counters() {
    let bins = bins();
    let scratch = Scratch::new("counts");
    scratch.seed(&bins);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut dryad = Command::new(&bins.dryad)
        .args(["serve", "--database-url", &scratch.database_url()])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&base);

    let out = cicada_run(
        &bins,
        &scratch,
        &["-H", &base, "-u", "10", "-r", "10", "-t", "4s"],
    )
    .output()
    .unwrap();
    // Thresholds may fail on a loaded debug build; what matters here is that the run completed.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cicada failed: {}",
        text(&out.stderr)
    );
    let counts = dryad_request_counts(&base);
    dryad.kill().unwrap();
    dryad.wait().unwrap();

    let report = scratch.report();
    assert!(
        report.aggregated.requests > 20,
        "too little traffic: {}",
        report.aggregated.requests
    );
    let mut total = 0;
    for row in &report.requests {
        let route = row.name.replace("{{", "{").replace("}}", "}");
        let server = counts.get(&(row.method.clone(), route.clone())).copied();
        assert_eq!(
            server,
            Some(row.requests),
            "{} {route}: cicada counted {}, dryad {:?}",
            row.method,
            row.requests,
            server
        );
        total += row.requests;
    }
    assert_eq!(total, report.aggregated.requests);
    // Every request the scenario sends is one of the rows above (readiness probes aside).
    let api: u64 = counts
        .iter()
        .filter(|((_, route), _)| route.starts_with("/api/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(api, report.aggregated.requests);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);
}

#[test]
fn managed_target_runs_and_leaves_nothing_behind() {
    let bins = bins();
    let scratch = Scratch::new("managed");
    scratch.seed(&bins);
    let managed = Managed::new(&bins, &scratch);
    let out = managed.run(&bins, &scratch, "3s").output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cicada failed ({:?}): {}",
        out.status,
        text(&out.stderr)
    );
    let report = scratch.report();
    assert!(report.aggregated.requests > 5);
    assert!(!report.run.interrupted);
    assert_nothing_left(&scratch);
    // The target is really stopped: nothing answers on its port any more.
    assert!(get(&managed.ready).is_none());
}

#[test]
fn target_that_fails_to_start_is_reported_and_cleaned_up() {
    let bins = bins();
    let scratch = Scratch::new("nostart");
    std::fs::write(
        scratch.path("data/agents.csv"),
        "agent_id\n00000000-0000-4000-8000-000000000001\n",
    )
    .unwrap();
    let port = free_port();
    // A database in a directory that does not exist: dryad exits at start-up.
    let target_cmd = format!(
        "exec '{}' serve --database-url 'sqlite://{}/missing/dir/x.db' --bind 127.0.0.1:{port}",
        bins.dryad.display(),
        scratch.0.display()
    );
    let ready = format!("http://127.0.0.1:{port}/ready");
    let out: Output = cicada_run(&bins, &scratch, &["-u", "1", "-t", "2s"])
        .args(["--target-cmd", &target_cmd, "--target-ready", &ready])
        .args(["--target-ready-timeout", "30s"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("exited"), "names what happened: {stderr}");
    assert!(
        stderr.contains("missing/dir"),
        "shows the target's own output: {stderr}"
    );
    assert_nothing_left(&scratch);
}

#[test]
fn interrupted_run_writes_the_report_and_stops_the_target() {
    let bins = bins();
    let scratch = Scratch::new("sigint");
    scratch.seed(&bins);
    let managed = Managed::new(&bins, &scratch);
    let host = managed.host.clone();
    let child = managed
        .run(&bins, &scratch, "60s")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&host);
    std::thread::sleep(Duration::from_secs(2));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let report = scratch.report();
    assert!(report.run.interrupted);
    assert!(report.aggregated.requests > 0);
    assert_nothing_left(&scratch);
}
