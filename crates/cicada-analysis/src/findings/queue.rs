//! Queue growth: a queue-depth gauge that keeps rising through a steady phase (constant load)
//! means work arrives faster than the target completes it.

use cicada_report::analysis_model::{Finding, FindingKind, SeriesStat, Severity};

use super::timeline::{linear_fit, load_series, points_in, steady_windows};
use super::{FindingsConfig, FindingsInput, ev, num};

pub fn queue_growth(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let series = input.series(cfg.metrics.queue_depth.as_ref(), |s| {
        *s == SeriesStat::Gauge
    });
    if series.is_empty() {
        return None;
    }
    let windows = steady_windows(&load_series(input.report), cfg.min_steady_s);
    // The steepest consistent growth over every queue and steady window.
    let mut best: Option<(f64, Finding)> = None;
    for s in &series {
        for w in &windows {
            let pts = points_in(&s.points, w);
            let Some(fit) = linear_fit(&pts) else {
                continue;
            };
            let growth = fit.slope * w.duration_s();
            if fit.slope <= 0.0 || growth < cfg.queue_growth_min || fit.r_squared < 0.5 {
                continue;
            }
            let (first, last) = (pts[0].1, pts[pts.len() - 1].1);
            let label = if s.labels.is_empty() {
                s.name.clone()
            } else {
                let l: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                format!("{}{{{}}}", s.name, l.join(","))
            };
            let finding = Finding {
                kind: FindingKind::QueueGrowth,
                severity: if last >= 10.0 * first.max(1.0) {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                score: 250.0 + growth.min(1000.0) / 10.0,
                title: "A queue grows at constant load".to_owned(),
                summary: format!(
                    "{label} rose from {} to {} ({} per second) while the load held steady for \
                     {} s: work arrives faster than the target completes it.",
                    num(first, 0),
                    num(last, 0),
                    num(fit.slope, 2),
                    num(w.duration_s(), 0)
                ),
                evidence: vec![
                    ev(&format!("{label} at the start"), first, "items", Some(*w)),
                    ev(&format!("{label} at the end"), last, "items", Some(*w)),
                    ev("growth rate", fit.slope, "items/s", Some(*w)),
                    ev("linear fit R²", fit.r_squared * 100.0, "%", Some(*w)),
                ],
                window: Some(*w),
                next_step: "At this load the target is over capacity. Find what its workers wait \
                            on (CPU, database, a downstream call), add workers, or bound the \
                            queue and shed load (429/503) so latency stays predictable."
                    .to_owned(),
            };
            if best.as_ref().is_none_or(|(g, _)| growth > *g) {
                best = Some((growth, finding));
            }
        }
    }
    best.map(|(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::TimeWindow;

    fn report() -> cicada_report::RunReport {
        // Ramp 10 s, hold 50 users for 50 s.
        ReportBuilder::ramp_and_hold(60, 50.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            ..Second::default()
        })
    }

    #[test]
    fn a_queue_rising_through_the_hold_is_found() {
        let report = report();
        let scraped = scraped(vec![series(
            "dryad_queue_depth",
            SeriesStat::Gauge,
            60,
            |t| {
                if t < 10 { 0.0 } else { (t - 10) as f64 * 3.0 }
            },
        )]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&scraped);
        let f = queue_growth(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.window, Some(TimeWindow::new(9.0, 60.0)));
        assert!(f.summary.contains("3 per second"), "{}", f.summary);
        assert_eq!(f.severity, Severity::Critical);
    }

    #[test]
    fn a_busy_but_stable_queue_or_a_ramp_only_rise_is_not_growth() {
        let report = report();
        // Fluctuates around 40 through the hold.
        let stable = scraped(vec![series(
            "dryad_queue_depth",
            SeriesStat::Gauge,
            60,
            |t| 40.0 + if t % 2 == 0 { 3.0 } else { -3.0 },
        )]);
        // Rises during the ramp only.
        let ramp = scraped(vec![series(
            "dryad_queue_depth",
            SeriesStat::Gauge,
            60,
            |t| (t.min(10) * 4) as f64,
        )]);
        for s in [&stable, &ramp] {
            let mut input = FindingsInput::new(&report);
            input.scraped = Some(s);
            assert!(queue_growth(&input, &FindingsConfig::default()).is_none());
        }
        // A slow creep below the minimum growth is noise.
        let creep = scraped(vec![series(
            "dryad_queue_depth",
            SeriesStat::Gauge,
            60,
            |t| t as f64 * 0.1,
        )]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&creep);
        assert!(queue_growth(&input, &FindingsConfig::default()).is_none());
    }
}
