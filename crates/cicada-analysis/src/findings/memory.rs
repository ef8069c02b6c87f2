//! Memory growth: the target's RSS keeps rising through a steady phase.
//!
//! A leak under constant load grows at a constant rate; a cache (SQLite's page cache, an
//! application's bounded cache) grows fast while it fills and then levels off. So the growth
//! is a warning only when the second half of the steady phase still grows at least
//! [`STILL_GROWING`] times as fast as the first half (and above the noise limit); memory that
//! grew and then levelled off is information, with the level it reached.

use cicada_report::analysis_model::{Finding, FindingKind, SeriesPoint, Severity, TimeWindow};

use super::timeline::{Fit, linear_fit, load_series, points_in, steady_windows};
use super::{FindingsConfig, FindingsInput, ev, num};

const MIB: f64 = 1024.0 * 1024.0;

/// The second half of a steady phase grows at least this share of the first half's rate for
/// the growth to count as unbounded (a leak's rate is constant; a filling cache's falls to 0).
pub const STILL_GROWING: f64 = 0.4;

/// How a steady phase's RSS moved.
struct Growth {
    window: TimeWindow,
    fit: Fit,
    first: f64,
    last: f64,
    /// Growth rates (bytes/min) of the first and the second half.
    early_per_min: f64,
    late_per_min: f64,
}

impl Growth {
    fn per_min(&self) -> f64 {
        self.fit.slope * 60.0
    }

    fn levels_off(&self, cfg: &FindingsConfig) -> bool {
        self.late_per_min < cfg.memory_growth_bytes_per_min
            || self.late_per_min < STILL_GROWING * self.early_per_min
    }
}

/// The RSS growth of one steady window, when it grew beyond noise.
fn growth(rss: &[SeriesPoint], w: &TimeWindow, cfg: &FindingsConfig) -> Option<Growth> {
    let pts = points_in(rss, w);
    let fit = linear_fit(&pts)?;
    let (first, last) = (pts[0].1, pts[pts.len() - 1].1);
    if fit.slope * 60.0 < cfg.memory_growth_bytes_per_min || last < first * 1.05 {
        return None;
    }
    let half = pts.len() / 2;
    let slope = |part: &[(f64, f64)]| linear_fit(part).map_or(0.0, |f| f.slope * 60.0);
    let (early_per_min, late_per_min) = (slope(&pts[..half]), slope(&pts[half..]));
    Some(Growth {
        window: *w,
        fit,
        first,
        last,
        early_per_min,
        late_per_min,
    })
}

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
    let grown: Vec<Growth> = windows
        .iter()
        .filter_map(|w| growth(&rss, w, cfg))
        .collect();
    let leak = grown
        .iter()
        .filter(|g| g.fit.r_squared >= 0.6 && !g.levels_off(cfg))
        .max_by(|a, b| a.per_min().total_cmp(&b.per_min()));
    if let Some(g) = leak {
        return Some(leaking(g));
    }
    grown
        .iter()
        .filter(|g| g.levels_off(cfg))
        .max_by(|a, b| (a.last - a.first).total_cmp(&(b.last - b.first)))
        .map(levelled_off)
}

fn rate_evidence(g: &Growth) -> Vec<cicada_report::analysis_model::Evidence> {
    let w = Some(g.window);
    vec![
        ev("RSS at the start", g.first / MIB, "MiB", w),
        ev("RSS at the end", g.last / MIB, "MiB", w),
        ev("growth rate", g.per_min() / MIB, "MiB/min", w),
        ev(
            "growth rate, first half",
            g.early_per_min / MIB,
            "MiB/min",
            w,
        ),
        ev(
            "growth rate, second half",
            g.late_per_min / MIB,
            "MiB/min",
            w,
        ),
        ev("linear fit R²", g.fit.r_squared * 100.0, "%", w),
    ]
}

fn leaking(g: &Growth) -> Finding {
    let per_min = g.per_min();
    Finding {
        kind: FindingKind::MemoryGrowth,
        severity: Severity::Warning,
        score: 200.0 + (per_min / MIB).min(100.0),
        title: format!(
            "The target's memory grows at constant load: {} MiB/min",
            num(per_min / MIB, 1)
        ),
        summary: format!(
            "The target's RSS grew from {} MiB to {} MiB ({} MiB/min) while the load held \
             steady for {} s, and it did not slow down: {} MiB/min in the second half against \
             {} MiB/min in the first.",
            num(g.first / MIB, 1),
            num(g.last / MIB, 1),
            num(per_min / MIB, 2),
            num(g.window.duration_s(), 0),
            num(g.late_per_min / MIB, 1),
            num(g.early_per_min / MIB, 1)
        ),
        evidence: rate_evidence(g),
        window: Some(g.window),
        next_step: "Memory that grows at a constant rate under constant load is a leak or an \
                    unbounded cache: take heap profiles of the target a few minutes apart \
                    (e.g. heaptrack, or jemalloc profiling) and look for what holds the new \
                    allocations; a longer steady (soak) test shows how fast it runs out."
            .to_owned(),
    }
}

fn levelled_off(g: &Growth) -> Finding {
    Finding {
        kind: FindingKind::MemoryGrowth,
        severity: Severity::Info,
        score: 20.0,
        title: format!(
            "The target's memory grew, then levelled off at {} MiB",
            num(g.last / MIB, 1)
        ),
        summary: format!(
            "The target's RSS grew from {} MiB to {} MiB during the steady load, {} MiB/min in \
             the first half and {} MiB/min in the second: a cache filling up (the database's \
             page cache, an application cache), not a leak.",
            num(g.first / MIB, 1),
            num(g.last / MIB, 1),
            num(g.early_per_min / MIB, 1),
            num(g.late_per_min / MIB, 1)
        ),
        evidence: rate_evidence(g),
        window: Some(g.window),
        next_step: "Nothing to do for this alone; if the level it settles at matters, size the \
                    cache (or the container's memory limit) to it, and confirm with a longer \
                    steady test that it stays there."
            .to_owned(),
    }
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
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            f.title,
            "The target's memory grows at constant load: 60 MiB/min"
        );
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

    /// A cache that fills in the first 40 s of the hold (1 MiB/s), then stays at 150 MiB:
    /// its fit over the whole hold is a fair line, but the second half does not grow.
    #[test]
    fn a_cache_that_levels_off_is_information_not_a_leak() {
        let report = report();
        let cache = resources_with_target(
            120,
            |t| {
                (
                    30.0,
                    (100 << 20) + (t.clamp(10, 50) - 10) * (1 << 20) + (t % 2) * 4096,
                )
            },
            |_| 10.0,
        );
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&cache);
        let f = memory_growth(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.severity, Severity::Info, "{f:?}");
        assert_eq!(
            f.title,
            "The target's memory grew, then levelled off at 140 MiB"
        );
        for e in &f.evidence {
            assert!(!e.unit.is_empty());
        }
    }

    /// A leak whose rate wobbles with the load (a shared machine) is still a leak.
    #[test]
    fn a_leak_with_an_uneven_rate_is_still_a_leak() {
        let report = report();
        let uneven = resources_with_target(
            120,
            |t| (30.0, (100 << 20) + t * (1 << 20) + (t % 7) * (1 << 19)),
            |_| 10.0,
        );
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&uneven);
        let f = memory_growth(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.severity, Severity::Warning, "{f:?}");
    }
}
