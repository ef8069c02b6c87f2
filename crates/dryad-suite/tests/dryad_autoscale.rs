//! Auto-scaling validation against dryad's real worker pool: the real `cicada` binary runs a
//! shortened `tests/load/dryad-autoscale.toml` (baseline → spike → hold → drop of the
//! agent-studio journey: execute, poll until COMPLETED, read the history) and reads `dryad_workers_current` once a second with `--scaling-probe`.
//!
//! - an autoscaled pool (4–32 workers) passes all six scaling checks, exit code 0, and the JSON
//!   report holds the checks and the replica timeline;
//! - a fixed pool (4–4) fails the scale-out check with its reason, exit code 1.

mod support;

use std::path::Path;

use cicada_report::analysis_model::ScalingReport;
use support::{Bins, Dryad, Scratch, bins, cicada_run, text};

/// 38 s: 8 s baseline of 2 users, 2 s spike to 20, 10 s hold, 2 s drop to 2, 16 s tail. Each
/// user has at most one execution in flight, so 20 users ask for up to 10 workers.
const SHAPE: &str = r#"stages = [
  { duration = "1s", users = 2 },
  { duration = "7s", users = 2 },
  { duration = "2s", users = 20 },
  { duration = "10s", users = 20 },
  { duration = "2s", users = 2 },
  { duration = "16s", users = 2 },
]"#;

/// The demonstration scenario with its stages replaced by [`SHAPE`].
fn scenario() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/dryad-autoscale.toml");
    let full = std::fs::read_to_string(path).unwrap();
    let start = full
        .find("stages = [")
        .expect("the scenario has load stages");
    let end = start + full[start..].find(']').expect("the stage list ends") + 1;
    format!("{}{SHAPE}{}", &full[..start], &full[end..])
}

/// Run the shortened scenario against a dryad started with `workers` flags; returns the exit
/// code, stdout and the scaling part of the report.
fn run(name: &str, workers: &[&str]) -> (Option<i32>, String, ScalingReport) {
    let bins: Bins = bins();
    let scratch = Scratch::new(name, &scenario());
    scratch.seed(&bins);
    // The scale-down window (12 s) outlasts the 10 s hold, so the pool shrinks only after the
    // drop: the hold stays free of reversals whichever count the spike drove it to.
    let mut flags = workers.to_vec();
    flags.extend(["--scale-down-cooldown-secs", "12"]);
    let dryad = Dryad::start(&bins, &scratch, &[], &flags);
    let probe = format!("prom:{}/metrics#dryad_workers_current", dryad.base);
    let out = cicada_run(&bins, &scratch, &["-H", &dryad.base, "--quiet"])
        .args(["--scaling-probe", &probe])
        .args(["--scale-out-within", "10s", "--scale-reach-within", "20s"])
        .args(["--scale-slo-p95", "500", "--scale-recovery-within", "20s"])
        .args(["--scale-in-within", "20s", "--scale-max-errors", "0"])
        .output()
        .unwrap();
    drop(dryad);
    let stdout = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cicada failed ({:?}): {stdout}{}",
        out.status,
        text(&out.stderr)
    );
    let report = scratch.report();
    let scaling = report
        .analysis
        .and_then(|a| a.scaling)
        .unwrap_or_else(|| panic!("the report has no scaling section: {stdout}"));
    (out.status.code(), stdout, scaling)
}

/// One line per second: `t load replicas p95`, for failure messages.
fn timeline(s: &ScalingReport) -> String {
    s.timeline
        .iter()
        .map(|p| {
            format!(
                "{}s:{}u/{}w/{:.0}ms",
                p.elapsed_s,
                p.load,
                p.replicas.map_or("-".to_owned(), |r| r.to_string()),
                p.p95_ms
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn an_autoscaled_pool_passes_every_scaling_check() {
    let (code, stdout, scaling) = run("autoscale", &["--workers-min", "4", "--workers-max", "32"]);
    let why = format!("{stdout}\ntimeline: {}", timeline(&scaling));
    assert_eq!(code, Some(0), "{why}");
    assert!(scaling.passed, "{why}");
    assert!(scaling.probe.contains("dryad_workers_current"));
    assert_eq!(scaling.probe_failures, 0, "{why}");
    let names: Vec<&str> = scaling.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "scale_out_reaction",
            "reach_needed_count",
            "slo_recovery",
            "scale_in",
            "no_flapping",
            "errors_during_scaling"
        ]
    );
    for c in &scaling.checks {
        assert!(c.passed && !c.skipped, "{}: {} — {why}", c.name, c.reason);
    }
    assert!(stdout.contains("PASS scale_in"), "{why}");

    // The replica timeline: read in (almost) every second, 4 before the spike, more during
    // the hold, fewer again at the end.
    let t = &scaling.timeline;
    assert!(t.len() >= 35, "{} points: {why}", t.len());
    let read = t.iter().filter(|p| p.replicas.is_some()).count();
    assert!(
        read + 3 >= t.len(),
        "only {read} of {} seconds read: {why}",
        t.len()
    );
    let at = |s: f64| t.iter().find(|p| p.elapsed_s == s).and_then(|p| p.replicas);
    assert_eq!(at(5.0), Some(4.0), "{why}");
    let peak = t.iter().filter_map(|p| p.replicas).fold(0.0, f64::max);
    assert!(peak > 4.0, "{why}");
    let last = t.iter().rev().find_map(|p| p.replicas).unwrap();
    assert!(last < peak, "{why}");
}

#[test]
fn a_fixed_pool_fails_the_scale_out_check_with_its_reason() {
    let (code, stdout, scaling) = run("fixedpool", &["--workers-min", "4", "--workers-max", "4"]);
    let why = format!("{stdout}\ntimeline: {}", timeline(&scaling));
    assert_eq!(code, Some(1), "{why}");
    assert!(!scaling.passed);
    let out = scaling
        .checks
        .iter()
        .find(|c| c.name == "scale_out_reaction")
        .unwrap();
    assert!(!out.passed && !out.skipped, "{why}");
    assert!(out.measured.is_none());
    assert!(
        out.reason.contains("replicas stayed at 4"),
        "{}",
        out.reason
    );
    assert!(out.reason.contains("after the load rose"), "{}", out.reason);
    assert!(stdout.contains("FAIL scale_out_reaction"), "{why}");
    // The pool really held 4 workers throughout.
    assert!(
        scaling
            .timeline
            .iter()
            .filter_map(|p| p.replicas)
            .all(|r| r == 4.0),
        "{why}"
    );
}
