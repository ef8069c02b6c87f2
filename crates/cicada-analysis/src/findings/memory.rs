//! Memory growth: the target's RSS keeps rising through a steady phase.

use cicada_report::analysis_model::{Finding, FindingKind, SeriesPoint, Severity};

use super::timeline::{linear_fit, load_series, points_in, steady_windows};
use super::{FindingsConfig, FindingsInput, ev, num};

const MIB: f64 = 1024.0 * 1024.0;

pub fn memory_growth(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let target = input.resources?.target.as_ref()?;
    let rss: Vec<SeriesPoint> = target
        .samples
        .iter()
        .map(|s| SeriesPoint {
            elapsed_s: s.elapsed_s,
            value: s.rss_bytes as f64,
        })
        .collect();
    let windows = steady_windows(&load_series(input.report), cfg.min_steady_s);
    let mut best: Option<(f64, Finding)> = None;
    for w in &windows {
        let pts = points_in(&rss, w);
        let Some(fit) = linear_fit(&pts) else {
            continue;
        };
        let per_min = fit.slope * 60.0;
        let (first, last) = (pts[0].1, pts[pts.len() - 1].1);
        if per_min < cfg.memory_growth_bytes_per_min || fit.r_squared < 0.6 || last < first * 1.05 {
            continue;
        }
        let finding = Finding {
            kind: FindingKind::MemoryGrowth,
            severity: Severity::Warning,
            score: 200.0 + (per_min / MIB).min(100.0),
            title: "The target's memory grows at constant load".to_owned(),
            summary: format!(
                "The target's RSS grew from {} MiB to {} MiB ({} MiB/min) while the load held \
                 steady for {} s.",
                num(first / MIB, 1),
                num(last / MIB, 1),
                num(per_min / MIB, 2),
                num(w.duration_s(), 0)
            ),
            evidence: vec![
                ev("RSS at the start", first / MIB, "MiB", Some(*w)),
                ev("RSS at the end", last / MIB, "MiB", Some(*w)),
                ev("growth rate", per_min / MIB, "MiB/min", Some(*w)),
                ev("linear fit R²", fit.r_squared * 100.0, "%", Some(*w)),
            ],
            window: Some(*w),
            next_step: "Run a longer steady (soak) test to see whether it levels off; if not, \
                        take heap profiles of the target a few minutes apart (e.g. heaptrack or \
                        jemalloc profiling) and look for an unbounded cache or a leak."
                .to_owned(),
        };
        if best.as_ref().is_none_or(|(g, _)| per_min > *g) {
            best = Some((per_min, finding));
        }
    }
    best.map(|(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn report() -> cicada_report::RunReport {
        ReportBuilder::ramp_and_hold(120, 50.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            ..Second::default()
        })
    }

    #[test]
    fn rss_rising_through_the_hold_is_found() {
        let report = report();
        // 100 MiB + 1 MiB per second (60 MiB/min).
        let resources = resources_with_target(120, |t| (30.0, (100 << 20) + (t << 20)), |_| 10.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = memory_growth(&input, &FindingsConfig::default()).expect("finding");
        assert!(f.summary.contains("(60 MiB/min)"), "{}", f.summary);
        assert!(
            f.summary.contains("from 110 MiB to 220 MiB"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn flat_or_noisy_rss_is_not_growth() {
        let report = report();
        let flat = resources_with_target(120, |t| (30.0, (200 << 20) + (t % 3) * 4096), |_| 10.0);
        // Grows only during the ramp.
        let warmup =
            resources_with_target(120, |t| (30.0, (100 << 20) + (t.min(10) << 22)), |_| 10.0);
        for r in [&flat, &warmup] {
            let mut input = FindingsInput::new(&report);
            input.resources = Some(r);
            assert!(memory_growth(&input, &FindingsConfig::default()).is_none());
        }
    }
}
