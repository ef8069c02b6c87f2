//! Noisy neighbours: other processes took the machine's CPU during the run, so the target and
//! the generator competed for it and the run's latency and throughput are unreliable.
//!
//! Per second, the CPU of everything that is neither the target nor the generator is the
//! machine's busy CPU minus theirs (all in cores). A second is contended when the machine was
//! at least [`FULL_PCT`] busy and others used at least [`OTHERS_SHARE`] of its CPUs. Without
//! the target's series nothing can be told apart, and the rule stays silent.

use std::collections::BTreeMap;

use cicada_report::analysis_model::{Finding, FindingKind, ProcessSeries, Severity, TimeWindow};

use super::timeline::{mean, seconds_to_windows};
use super::{FindingsConfig, FindingsInput, ev, num};

/// Machine busy (% of all CPUs) from which there was no CPU to spare.
pub const FULL_PCT: f64 = 90.0;
/// Others' share of the machine's CPUs from which they count.
pub const OTHERS_SHARE: f64 = 0.25;
/// Share of the loaded seconds that must be contended.
pub const MIN_SHARE: f64 = 0.2;
/// ... and at least this many seconds.
pub const MIN_SECONDS: usize = 3;
/// Share of contended seconds from which the run is not to be trusted at all (critical).
pub const CRITICAL_SHARE: f64 = 0.5;

fn cores_by_second(p: &ProcessSeries) -> BTreeMap<u64, f64> {
    p.samples
        .iter()
        .map(|s| (s.elapsed_s.round() as u64, s.cpu_core_pct / 100.0))
        .collect()
}

pub fn noisy_neighbours(input: &FindingsInput<'_>, _cfg: &FindingsConfig) -> Option<Finding> {
    let resources = input.resources?;
    let target = cores_by_second(resources.target.as_ref()?);
    let generator = resources
        .generator
        .as_ref()
        .map(cores_by_second)
        .unwrap_or_default();
    let cpus = f64::from(input.report.run.machine.cpus.max(1));
    let loaded: Vec<u64> = input
        .report
        .timeline
        .iter()
        .filter(|s| s.requests > 0)
        .map(|s| s.elapsed_s)
        .collect();
    // (second, machine busy %, others in cores)
    let rows: Vec<(u64, f64, f64)> = resources
        .system
        .iter()
        .filter_map(|s| {
            let t = s.elapsed_s.round() as u64;
            if !loaded.contains(&t) {
                return None;
            }
            let ours = target.get(&t)? + generator.get(&t).copied().unwrap_or(0.0);
            Some((t, s.busy_pct, (s.busy_pct / 100.0 * cpus - ours).max(0.0)))
        })
        .collect();
    let contended: Vec<&(u64, f64, f64)> = rows
        .iter()
        .filter(|r| r.1 >= FULL_PCT && r.2 >= OTHERS_SHARE * cpus)
        .collect();
    let share = contended.len() as f64 / rows.len().max(1) as f64;
    if contended.len() < MIN_SECONDS || share < MIN_SHARE {
        return None;
    }
    let seconds: Vec<u64> = contended.iter().map(|r| r.0).collect();
    let windows = seconds_to_windows(&seconds);
    let window = TimeWindow::new(windows[0].start_s, windows[windows.len() - 1].end_s);
    let others = mean(contended.iter().map(|r| r.2))?;
    let busy = mean(contended.iter().map(|r| r.1))?;
    Some(Finding {
        kind: FindingKind::NoisyNeighbours,
        severity: if share >= CRITICAL_SHARE {
            Severity::Critical
        } else {
            Severity::Warning
        },
        score: 800.0 + 100.0 * share,
        title: "Other processes took the machine's CPU: the results are unreliable".to_owned(),
        summary: format!(
            "In {} of {} s the machine was {} % busy and processes other than the target and \
             the generator used {} of its {} CPUs ({} %): the target and the generator waited \
             for CPU, so latency and throughput are unreliable.",
            contended.len(),
            rows.len(),
            num(busy, 0),
            num(others, 2),
            num(cpus, 0),
            num(others / cpus * 100.0, 0)
        ),
        evidence: vec![
            ev(
                "other processes' CPU (mean, % of the machine)",
                others / cpus * 100.0,
                "%",
                Some(window),
            ),
            ev("machine CPU busy (mean)", busy, "%", Some(window)),
            ev(
                "contended seconds",
                contended.len() as f64,
                "s",
                Some(window),
            ),
            ev("contended, share of the run", share * 100.0, "%", None),
        ],
        window: Some(window),
        next_step: "Run again with the machine to yourself (see who takes the CPU with `top` or \
                    `pidstat 1` during the run), or give the target and the generator cores of \
                    their own (taskset, cgroups) with nothing else on them; trust the numbers \
                    only from such a run."
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::SystemCpuSample;

    fn with_system(busy: impl Fn(u64) -> f64) -> cicada_report::analysis_model::ResourceSeries {
        // Target 30 % of 2 cores (0.6 cores), generator 10 % (0.2 cores).
        let mut r = resources_with_target(30, |_| (30.0, 1 << 20), |_| 10.0);
        r.system = (1..=30)
            .map(|t| SystemCpuSample {
                elapsed_s: t as f64,
                busy_pct: busy(t),
                iowait_pct: 0.0,
                steal_pct: 0.0,
            })
            .collect();
        r
    }

    fn report() -> cicada_report::RunReport {
        ReportBuilder::ramp_and_hold(30, 10.0).build(|_, u| Second {
            rps: u * 10.0,
            p95_ms: 5.0,
            ..Second::default()
        })
    }

    #[test]
    fn a_full_machine_with_others_on_it_is_flagged() {
        let report = report();
        // 100 % of 2 CPUs busy: others 2 - 0.8 = 1.2 cores.
        let resources = with_system(|t| if t > 10 { 100.0 } else { 40.0 });
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = noisy_neighbours(&input, &FindingsConfig::default()).expect("finding");
        assert!(f.summary.contains("In 20 of 30 s"), "{}", f.summary);
        assert!(
            f.summary.contains("used 1.2 of its 2 CPUs (60 %)"),
            "{}",
            f.summary
        );
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.window, Some(TimeWindow::new(10.0, 30.0)));
    }

    #[test]
    fn a_machine_busy_with_the_target_only_or_with_room_to_spare_is_not() {
        let report = report();
        // 40 % of 2 CPUs = 0.8 cores: exactly the target and the generator.
        let ours = with_system(|_| 40.0);
        // Others at 1.2 cores but the machine at 80 %: there was CPU to spare... not full.
        let spare = with_system(|_| 80.0);
        for r in [&ours, &spare] {
            let mut input = FindingsInput::new(&report);
            input.resources = Some(r);
            assert!(noisy_neighbours(&input, &FindingsConfig::default()).is_none());
        }
        // Without the target's series nothing can be told apart.
        let mut blind = with_system(|_| 100.0);
        blind.target = None;
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&blind);
        assert!(noisy_neighbours(&input, &FindingsConfig::default()).is_none());
    }
}
