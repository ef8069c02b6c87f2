//! End to end: the real `cicada` binary runs the DRYAD scenario (`tests/load/dryad.toml`) against
//! a real `dryad` process on loopback.
//!
//! - the report's request counts equal dryad's own `/metrics` counters, route by route, exactly;
//! - the managed-target flow (`--target-cmd`, `--target-ready`) starts dryad, runs, stops it, and
//!   leaves no process behind — also when the target fails to start and when the run is
//!   interrupted with SIGINT.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cicada_analysis::prom::parse_text;
use support::{Bins, Scratch, bins, free_port, get, text, wait_ready};

/// A scratch directory with the DRYAD scenario (`tests/load/dryad.toml`) as `scenario.toml`.
fn dryad_scratch(name: &str) -> Scratch {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/dryad.toml");
    Scratch::new(name, &std::fs::read_to_string(scenario).unwrap())
}

/// `cicada run` of the DRYAD scenario, quiet.
fn cicada_run(bins: &Bins, scratch: &Scratch, args: &[&str]) -> Command {
    let mut cmd = support::cicada_run(bins, scratch, args);
    cmd.arg("--quiet");
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
    let scratch = dryad_scratch("counts");
    scratch.seed_with(&bins, 20, 20);
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
    let scratch = dryad_scratch("managed");
    scratch.seed_with(&bins, 20, 20);
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
    scratch.assert_nothing_left();
    // The target is really stopped: nothing answers on its port any more.
    assert!(get(&managed.ready).is_none());
}

#[test]
fn target_that_fails_to_start_is_reported_and_cleaned_up() {
    let bins = bins();
    let scratch = dryad_scratch("nostart");
    std::fs::write(
        scratch.path("data/agents.csv"),
        "agent_id\n00000000-0000-4000-8000-000000000001\n",
    )
    .unwrap();
    let port = free_port();
    // A database in a directory that does not exist: dryad exits at start-up.
    let target_cmd = format!(
        "exec '{}' serve --database-url 'sqlite://{}' --bind 127.0.0.1:{port}",
        bins.dryad.display(),
        scratch.path("missing/dir/x.db").display()
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
    scratch.assert_nothing_left();
}

#[test]
fn interrupted_run_writes_the_report_and_stops_the_target() {
    let bins = bins();
    let scratch = dryad_scratch("sigint");
    scratch.seed_with(&bins, 20, 20);
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
    scratch.assert_nothing_left();
}
