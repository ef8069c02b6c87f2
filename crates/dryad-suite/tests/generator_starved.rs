//! A load generator given too little CPU is flagged, with real processes: `cicada` runs pinned
//! with `taskset` to one core that busy-loop processes (started here, stopped after) also
//! occupy, at an open-model rate whose CPU need exceeds the share of the core it gets. dryad
//! serves `GET /health` from another core. The report's generator-health verdict must mark the
//! affected seconds and say the results understate the target's capacity.
//!
//! Only the flag is asserted, not numbers: on a shared machine the amount of lag varies. Skipped,
//! saying so, when `taskset` is not installed; with `CI` set that fails instead.

mod support;

use std::process::{Child, Command, Stdio};

use cicada_report::analysis_model::FindingKind;
use support::{Dryad, Scratch, bins, cicada_run, text};

const SCENARIO: &str =
    "name = \"health\"\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/health\"\n";
/// Busy loops sharing the generator's core: with three, the generator gets about a quarter of it.
const HOGS: usize = 3;

/// A busy loop on one core, bounded by `timeout` whatever happens to this test; stopped (with
/// SIGTERM, which `timeout` passes on to the loop) when dropped.
struct Hog(Child);

impl Hog {
    fn start(core: &str) -> Self {
        let child = Command::new("taskset")
            .args([
                "-c",
                core,
                "timeout",
                "120",
                "sh",
                "-c",
                "while :; do :; done",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("taskset starts the busy loop");
        Hog(child)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

#[test]
fn a_generator_on_a_busy_core_is_flagged() {
    if !cicada_testkit::required::taskset("a_generator_on_a_busy_core_is_flagged") {
        return;
    }
    let bins = bins();
    let scratch = Scratch::new("starved", SCENARIO);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The generator and the hogs on core 0; dryad on core 1 when there is one.
    let dryad_core: &[&str] = if cores > 1 {
        &["taskset", "-c", "1"]
    } else {
        &[]
    };
    let dryad = Dryad::start(&bins, &scratch, dryad_core, &[]);
    let hogs: Vec<Hog> = (0..HOGS).map(|_| Hog::start("0")).collect();

    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]);
    let run = cicada_run(&bins, &scratch, &["-H", &dryad.base, "--quiet"]);
    let out = cmd
        .arg(run.get_program())
        .args(run.get_args())
        .args(["--rate", "1500", "--max-concurrency", "200", "-t", "6s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(hogs);
    drop(dryad);
    let stdout = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cicada failed ({:?}): {stdout}{}",
        out.status,
        text(&out.stderr)
    );

    let report = scratch.report();
    assert!(
        report.aggregated.requests > 0,
        "no traffic at all: {stdout}"
    );
    let analysis = report.analysis.expect("the report has an analysis");
    let resources = analysis.resources.expect("resources were sampled");
    let generator = resources.generator.expect("the generator was sampled");
    assert_eq!(
        generator.cores_available, 1.0,
        "taskset pinned cicada to one core"
    );

    let health = analysis
        .generator_health
        .expect("a generator-health verdict");
    assert!(!health.healthy, "not flagged: {}\n{stdout}", health.verdict);
    assert!(
        health
            .verdict
            .starts_with("The results understate the target's capacity"),
        "{}",
        health.verdict
    );
    assert!(!health.reasons.is_empty());
    assert!(!health.affected.is_empty());
    assert!(!health.affected_intervals.is_empty());
    // Every marked second is a second of the run.
    let last = report.timeline.last().map_or(0, |s| s.elapsed_s);
    assert!(
        health
            .affected_intervals
            .iter()
            .all(|&s| s >= 1 && s <= last + 1),
        "{:?} in a run of {last} s",
        health.affected_intervals
    );
    // The symptom of a starved generator in an open model: iterations started late.
    assert!(
        health.reasons.iter().any(|r| r.contains("started late")),
        "{:?}",
        health.reasons
    );
    assert_eq!(
        analysis.findings.first().map(|f| f.kind),
        Some(FindingKind::GeneratorSaturated),
        "the generator finding ranks first"
    );
    assert!(
        report
            .verdict
            .warnings
            .iter()
            .any(|w| w.contains("understate")),
        "{:?}",
        report.verdict.warnings
    );
    assert!(
        stdout.contains("understate the target's capacity"),
        "{stdout}"
    );
}
