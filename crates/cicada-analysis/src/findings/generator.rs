//! Generator saturation: the load generator itself could not keep up, so the run measured the
//! generator as much as the target. Marked per second: generator CPU at or above 90 % of what it
//! may use, open-model schedule lag p99 above 5 ms, or dropped iterations.

use std::collections::BTreeSet;

use cicada_report::analysis_model::{Finding, FindingKind, GeneratorHealth, Severity};

use super::timeline::seconds_to_windows;
use super::{FindingsConfig, FindingsInput, ev, num};

/// The seconds in which the generator was busy: its CPU at or above the limit, or iterations
/// starting late.
pub(crate) struct Busy {
    pub cpu_seconds: BTreeSet<u64>,
    pub lag_seconds: BTreeSet<u64>,
    /// The generator's CPU peak (% of the cores it may use); `None` when not sampled.
    pub peak_cpu: Option<f64>,
    pub worst_lag: f64,
    /// Whether the target's own `Server-Timing` accounts for most of the response time the
    /// generator measured (the target was slow, not the generator); `None` without it.
    pub target_slow: Option<bool>,
}

/// Share of the measured response time the target's `Server-Timing` must account for to say
/// the target, not the generator, was slow.
const SERVER_SIDE_SHARE: f64 = 0.5;

impl Busy {
    pub fn of(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Self {
        let mut cpu_seconds = BTreeSet::new();
        let mut peak_cpu: Option<f64> = None;
        if let Some(g) = input.resources.and_then(|r| r.generator.as_ref()) {
            for s in &g.samples {
                peak_cpu =
                    Some(peak_cpu.map_or(s.cpu_available_pct, |p| p.max(s.cpu_available_pct)));
                if s.cpu_available_pct >= cfg.generator_cpu_pct {
                    cpu_seconds.insert(s.elapsed_s.round().max(1.0) as u64);
                }
            }
        }
        let mut lag_seconds = BTreeSet::new();
        let mut worst_lag: f64 = 0.0;
        for s in &input.report.timeline {
            if let Some(lag) = s.schedule_lag_p99_ms {
                worst_lag = worst_lag.max(lag);
                if lag > cfg.schedule_lag_p99_ms {
                    lag_seconds.insert(s.elapsed_s);
                }
            }
        }
        if lag_seconds.len() == 1 && worst_lag < cfg.isolated_lag_factor * cfg.schedule_lag_p99_ms {
            lag_seconds.clear();
        }
        let target_slow = input
            .report
            .aggregated
            .server_timing
            .as_ref()
            .and_then(|t| {
                (t.response_ms > 0.0)
                    .then(|| (t.db_ms + t.pool_ms + t.app_ms) / t.response_ms >= SERVER_SIDE_SHARE)
            });
        Self {
            cpu_seconds,
            lag_seconds,
            peak_cpu,
            worst_lag,
            target_slow,
        }
    }

    /// Whether iterations dropped in second `s` are the generator's doing (within a second
    /// of it): its CPU was at the limit, so it was slow to read responses and free its users;
    /// or it started iterations late and the target's `Server-Timing` does not show the
    /// target was the slow side (a generator starved of CPU reads responses late too); or its
    /// CPU was not measured (then nothing says otherwise). Otherwise the cap was reached
    /// because the target answered slowly ([`super::cap`]).
    pub fn explains_drops_at(&self, s: u64) -> bool {
        let near = [s.saturating_sub(1), s, s + 1];
        self.peak_cpu.is_none()
            || near.iter().any(|t| self.cpu_seconds.contains(t))
            || (self.target_slow != Some(true) && near.iter().any(|t| self.lag_seconds.contains(t)))
    }
}

/// The generator verdict, and a finding when it was saturated.
pub fn assess(
    input: &FindingsInput<'_>,
    cfg: &FindingsConfig,
) -> (GeneratorHealth, Option<Finding>) {
    let report = input.report;
    let busy = Busy::of(input, cfg);
    let drop_seconds: BTreeSet<u64> = report
        .timeline
        .iter()
        .filter(|s| s.dropped_iterations.is_some_and(|d| d > 0))
        .map(|s| s.elapsed_s)
        .filter(|&s| busy.explains_drops_at(s))
        .collect();
    // Iterations that wait for a free slot at the concurrency cap start late; when the target
    // was the slow side and the generator's CPU was not at its limit, that lag is the cap's
    // doing ([`super::cap`] reports it), not the generator's.
    let cap_seconds: BTreeSet<u64> = report
        .timeline
        .iter()
        .filter(|s| s.dropped_iterations.is_some_and(|d| d > 0))
        .flat_map(|s| [s.elapsed_s.saturating_sub(1), s.elapsed_s, s.elapsed_s + 1])
        .collect();
    let busy = if busy.target_slow == Some(true) && busy.peak_cpu.is_some() {
        let lag_seconds = busy
            .lag_seconds
            .iter()
            .copied()
            .filter(|t| !cap_seconds.contains(t) || busy.cpu_seconds.contains(t))
            .collect();
        Busy {
            lag_seconds,
            ..busy
        }
    } else {
        busy
    };
    let Busy {
        cpu_seconds,
        lag_seconds,
        peak_cpu,
        worst_lag,
        ..
    } = busy;
    let dropped: u64 = report
        .timeline
        .iter()
        .filter(|s| drop_seconds.contains(&s.elapsed_s))
        .filter_map(|s| s.dropped_iterations)
        .sum();
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
            let at_cap: u64 = report
                .timeline
                .iter()
                .filter_map(|s| s.dropped_iterations)
                .sum();
            parts.push(if at_cap == 0 {
                "no iteration was dropped".to_owned()
            } else {
                format!(
                    "{at_cap} iterations were dropped at the concurrency cap while it had CPU \
                     to spare (the target answered slowly)"
                )
            });
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
            "{dropped} iterations dropped in {} s (concurrency cap reached while the \
             generator was busy)",
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
        // Drops while the generator's CPU was at its limit (95 % at t = 20) are its own.
        let (h, f) = run(&report, |t| if t == 20 { 95.0 } else { 40.0 });
        assert!(!h.healthy);
        assert_eq!(h.affected_intervals, [12, 20]);
        assert_eq!(h.reasons.len(), 3, "{:?}", h.reasons);
        assert!(h.reasons[1].contains("worst 40 ms"));
        assert!(h.reasons[2].starts_with("7 iterations dropped"));
        assert!(f.is_some());
    }

    #[test]
    fn drops_at_the_cap_with_cpu_to_spare_are_not_saturation() {
        let report = ReportBuilder::ramp_and_hold(30, 100.0).build(|t, u| Second {
            rps: u,
            p95_ms: 400.0,
            schedule_lag_p99_ms: Some(0.5),
            dropped: Some(if t > 5 { 40 } else { 0 }),
            ..Second::default()
        });
        let (h, f) = run(&report, |_| 15.0);
        assert!(h.healthy, "{h:?}");
        assert!(f.is_none());
        assert!(
            h.verdict
                .contains("1000 iterations were dropped at the concurrency cap"),
            "{}",
            h.verdict
        );
    }

    #[test]
    fn lag_at_the_cap_of_a_slow_target_is_not_saturation() {
        // Iterations waiting for a slot at the cap start late; the target's Server-Timing
        // accounts for the response time and the generator's CPU is low.
        let mut report = ReportBuilder::ramp_and_hold(30, 100.0).build(|t, u| Second {
            rps: u,
            p95_ms: 100.0,
            schedule_lag_p99_ms: Some(if (10..=12).contains(&t) { 5.9 } else { 0.5 }),
            dropped: Some(if (10..=12).contains(&t) { 20 } else { 0 }),
            ..Second::default()
        });
        report.aggregated.server_timing = cicada_report::model::ServerTimingStats::from_sums_us(
            1000,
            100_000_000,
            0,
            0,
            95_000_000,
        );
        let (h, f) = run(&report, |_| 4.0);
        assert!(h.healthy, "{h:?}");
        assert!(f.is_none());
        // Without the target's timing the same lag is the generator's.
        report.aggregated.server_timing = None;
        let (h, f) = run(&report, |_| 4.0);
        assert!(!h.healthy, "{h:?}");
        assert!(f.is_some());
    }

    #[test]
    fn one_marginally_late_second_is_not_saturation() {
        // The zoo's concurrency-cap run on a quiet machine: one second at 6.4 ms lag p99.
        let report = ReportBuilder::ramp_and_hold(30, 100.0).build(|t, u| Second {
            rps: u,
            p95_ms: 10.0,
            schedule_lag_p99_ms: Some(if t == 7 { 6.4 } else { 0.5 }),
            dropped: Some(0),
            ..Second::default()
        });
        let (h, f) = run(&report, |_| 4.0);
        assert!(h.healthy, "{h:?}");
        assert!(f.is_none());
        assert!(
            h.verdict.contains("schedule lag p99 at most 6.4 ms"),
            "{}",
            h.verdict
        );
        // Two late seconds, or one far above the limit, still count.
        let report = ReportBuilder::ramp_and_hold(30, 100.0).build(|t, u| Second {
            rps: u,
            p95_ms: 10.0,
            schedule_lag_p99_ms: Some(if t == 7 || t == 8 { 6.4 } else { 0.5 }),
            dropped: Some(0),
            ..Second::default()
        });
        let (h, f) = run(&report, |_| 4.0);
        assert!(!h.healthy, "{h:?}");
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
