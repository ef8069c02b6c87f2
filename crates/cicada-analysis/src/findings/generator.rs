//! Generator saturation: the load generator itself could not keep up, so the run measured the
//! generator as much as the target. Marked per second: generator CPU at or above 90 % of what it
//! may use, open-model schedule lag p99 above 5 ms, or dropped iterations.

use std::collections::BTreeSet;

use cicada_report::analysis_model::{Finding, FindingKind, GeneratorHealth, Severity};

use super::timeline::seconds_to_windows;
use super::{FindingsConfig, FindingsInput, ev, num};

/// The generator verdict, and a finding when it was saturated.
pub fn assess(
    input: &FindingsInput<'_>,
    cfg: &FindingsConfig,
) -> (GeneratorHealth, Option<Finding>) {
    let report = input.report;
    let mut cpu_seconds = BTreeSet::new();
    let mut peak_cpu: Option<f64> = None;
    if let Some(g) = input.resources.and_then(|r| r.generator.as_ref()) {
        for s in &g.samples {
            peak_cpu = Some(peak_cpu.map_or(s.cpu_available_pct, |p| p.max(s.cpu_available_pct)));
            if s.cpu_available_pct >= cfg.generator_cpu_pct {
                cpu_seconds.insert(s.elapsed_s.round().max(1.0) as u64);
            }
        }
    }
    let mut lag_seconds = BTreeSet::new();
    let mut drop_seconds = BTreeSet::new();
    let mut worst_lag: f64 = 0.0;
    let mut dropped = 0u64;
    for s in &report.timeline {
        if let Some(lag) = s.schedule_lag_p99_ms {
            worst_lag = worst_lag.max(lag);
            if lag > cfg.schedule_lag_p99_ms {
                lag_seconds.insert(s.elapsed_s);
            }
        }
        if let Some(d) = s.dropped_iterations.filter(|&d| d > 0) {
            dropped += d;
            drop_seconds.insert(s.elapsed_s);
        }
    }
    let affected: Vec<u64> = cpu_seconds
        .iter()
        .chain(&lag_seconds)
        .chain(&drop_seconds)
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cores = input
        .resources
        .and_then(|r| r.generator.as_ref())
        .map(|g| g.cores_available);

    if affected.is_empty() {
        let mut parts = Vec::new();
        if let (Some(p), Some(c)) = (peak_cpu, cores) {
            parts.push(format!(
                "CPU peaked at {} % of its {} cores",
                num(p, 0),
                num(c, 1)
            ));
        }
        if report
            .timeline
            .iter()
            .any(|s| s.schedule_lag_p99_ms.is_some())
        {
            parts.push(format!("schedule lag p99 at most {} ms", num(worst_lag, 1)));
            parts.push("no iteration was dropped".to_owned());
        }
        let verdict = if parts.is_empty() {
            "The load generator showed no sign of saturation.".to_owned()
        } else {
            format!("The load generator kept up: {}.", parts.join(", "))
        };
        return (
            GeneratorHealth {
                healthy: true,
                verdict,
                reasons: vec![],
                affected: vec![],
                affected_intervals: vec![],
            },
            None,
        );
    }

    let mut reasons = Vec::new();
    if !cpu_seconds.is_empty() {
        reasons.push(format!(
            "generator CPU at or above {} % of its {} cores in {} s (peak {} %)",
            num(cfg.generator_cpu_pct, 0),
            num(cores.unwrap_or(0.0), 1),
            cpu_seconds.len(),
            num(peak_cpu.unwrap_or(0.0), 0)
        ));
    }
    if !lag_seconds.is_empty() {
        reasons.push(format!(
            "iterations started late: schedule lag p99 above {} ms in {} s (worst {} ms)",
            num(cfg.schedule_lag_p99_ms, 1),
            lag_seconds.len(),
            num(worst_lag, 1)
        ));
    }
    if dropped > 0 {
        reasons.push(format!(
            "{dropped} iterations dropped in {} s (concurrency cap reached)",
            drop_seconds.len()
        ));
    }
    let total = report.timeline.len().max(1);
    let windows = seconds_to_windows(&affected);
    let verdict = format!(
        "The results understate the target's capacity: the load generator could not keep up in \
         {} of {} s ({}).",
        affected.len(),
        total,
        reasons.join("; ")
    );
    let span = windows
        .first()
        .zip(windows.last())
        .map(|(a, b)| cicada_report::analysis_model::TimeWindow::new(a.start_s, b.end_s));
    let mut evidence = vec![ev("affected seconds", affected.len() as f64, "s", span)];
    if let Some(p) = peak_cpu.filter(|_| !cpu_seconds.is_empty()) {
        evidence.push(ev("generator CPU (peak, % of allowed)", p, "%", span));
    }
    if !lag_seconds.is_empty() {
        evidence.push(ev("schedule lag p99 (worst)", worst_lag, "ms", span));
    }
    if dropped > 0 {
        evidence.push(ev("dropped iterations", dropped as f64, "iterations", span));
    }
    let share = affected.len() as f64 / total as f64;
    let finding = Finding {
        kind: FindingKind::GeneratorSaturated,
        severity: Severity::Critical,
        score: 1000.0 + 100.0 * share,
        title: "The load generator was saturated".to_owned(),
        summary: verdict.clone(),
        evidence,
        window: span,
        next_step: "Give the generator more CPU (a machine or cores of its own, nothing else \
                    busy on them), make each iteration cheaper (fewer checks and captures), or \
                    run distributed workers; then run again and compare."
            .to_owned(),
    };
    (
        GeneratorHealth {
            healthy: false,
            verdict,
            reasons,
            affected: windows,
            affected_intervals: affected,
        },
        Some(finding),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::TimeWindow;

    fn run(
        report: &cicada_report::RunReport,
        gen_cpu: impl Fn(u64) -> f64,
    ) -> (GeneratorHealth, Option<Finding>) {
        let resources = resources_with_target(60, |_| (30.0, 1 << 20), gen_cpu);
        let mut input = FindingsInput::new(report);
        input.resources = Some(&resources);
        assess(&input, &FindingsConfig::default())
    }

    #[test]
    fn a_busy_generator_is_flagged_with_its_windows() {
        let report = ReportBuilder::ramp_and_hold(60, 100.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            ..Second::default()
        });
        let (h, f) = run(
            &report,
            |t| if (20..=29).contains(&t) { 95.0 } else { 50.0 },
        );
        assert!(!h.healthy);
        assert_eq!(h.affected, [TimeWindow::new(19.0, 29.0)]);
        assert_eq!(h.affected_intervals.len(), 10);
        assert!(
            h.verdict.contains("understate the target's capacity"),
            "{}",
            h.verdict
        );
        assert!(h.reasons[0].contains("peak 95 %"), "{:?}", h.reasons);
        let f = f.unwrap();
        assert_eq!(f.kind, FindingKind::GeneratorSaturated);
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.evidence.iter().any(|e| e.value == 95.0));
    }

    #[test]
    fn late_and_dropped_iterations_are_flagged() {
        let report = ReportBuilder::ramp_and_hold(30, 100.0).build(|t, u| Second {
            rps: u,
            p95_ms: 10.0,
            schedule_lag_p99_ms: Some(if t == 12 { 40.0 } else { 0.5 }),
            dropped: Some(if t == 20 { 7 } else { 0 }),
            ..Second::default()
        });
        let (h, f) = run(&report, |_| 40.0);
        assert!(!h.healthy);
        assert_eq!(h.affected_intervals, [12, 20]);
        assert_eq!(h.reasons.len(), 2, "{:?}", h.reasons);
        assert!(h.reasons[0].contains("worst 40 ms"));
        assert!(h.reasons[1].starts_with("7 iterations dropped"));
        assert!(f.is_some());
    }

    #[test]
    fn a_generator_below_the_limits_is_healthy() {
        let report = ReportBuilder::ramp_and_hold(30, 100.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            schedule_lag_p99_ms: Some(4.9),
            dropped: Some(0),
            ..Second::default()
        });
        let (h, f) = run(&report, |_| 89.9);
        assert!(h.healthy, "{h:?}");
        assert!(f.is_none());
        assert!(h.verdict.contains("kept up"), "{}", h.verdict);
        assert!(
            h.verdict.contains("schedule lag p99 at most 4.9 ms"),
            "{}",
            h.verdict
        );
        // Without any resource data the verdict says so plainly.
        let input = FindingsInput::new(&report);
        let (h, _) = assess(&input, &FindingsConfig::default());
        assert!(h.healthy);
    }
}
