//! A run in which nothing limited the target says so plainly: "no bottleneck at this load; the
//! busiest resource was X at Y %". Added (as information) only when no rule found a warning or
//! a critical finding, so a healthy run is never silent about what it measured.

use cicada_report::analysis_model::{Finding, FindingKind, ProcessSeries, Severity};

use super::database::pool_utilisation;
use super::timeline::mean;
use super::{FindingsConfig, FindingsInput, ev, num, policy};

/// One resource and how busy it was, as a share (0..=100 %) of what it may use.
#[derive(Debug, Clone, PartialEq)]
struct Busy {
    /// e.g. `the target's CPU (2 cores)`.
    name: String,
    mean_pct: f64,
    peak_pct: f64,
}

/// A process's CPU over the loaded seconds of the run (those with requests).
fn process_busy(p: &ProcessSeries, who: &str, loaded: &[u64]) -> Option<Busy> {
    let samples: Vec<f64> = p
        .samples
        .iter()
        .filter(|s| loaded.contains(&(s.elapsed_s.round() as u64)))
        .map(|s| s.cpu_available_pct)
        .collect();
    Some(Busy {
        name: format!(
            "{who} CPU ({} {})",
            num(p.cores_available, 1),
            if p.cores_available == 1.0 {
                "core"
            } else {
                "cores"
            }
        ),
        mean_pct: mean(samples.iter().copied())?,
        peak_pct: samples.iter().copied().fold(0.0, f64::max),
    })
}

/// The resources the run measured, busiest (by mean) first.
fn resources(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Vec<Busy> {
    let loaded: Vec<u64> = input
        .report
        .timeline
        .iter()
        .filter(|s| s.requests > 0)
        .map(|s| s.elapsed_s)
        .collect();
    let mut out = Vec::new();
    if let Some(r) = input.resources {
        if let Some(t) = &r.target {
            out.extend(process_busy(t, "the target's", &loaded));
        }
        if let Some(g) = &r.generator {
            out.extend(process_busy(g, "the load generator's", &loaded));
        }
    }
    for (pool, avg, peak) in pool_utilisation(input, cfg) {
        out.push(Busy {
            name: if pool.is_empty() {
                "the database connection pool".to_owned()
            } else {
                format!("the database connection pool {{{pool}}}")
            },
            mean_pct: avg * 100.0,
            peak_pct: peak * 100.0,
        });
    }
    out.sort_by(|a, b| b.mean_pct.total_cmp(&a.mean_pct));
    out
}

/// The "no bottleneck" finding, when `findings` hold no warning or critical one.
pub fn no_bottleneck(
    input: &FindingsInput<'_>,
    cfg: &FindingsConfig,
    findings: &[Finding],
) -> Option<Finding> {
    // Verdicts on the run's trust (other processes on the machine, ...) do not say the
    // target was limited: the busiest resource is still worth saying beside them.
    if findings
        .iter()
        .any(|f| f.severity >= Severity::Warning && !policy::questions_the_run(f.kind))
    {
        return None;
    }
    let report = input.report;
    let agg = &report.aggregated;
    if agg.requests == 0 {
        return None;
    }
    let busy = resources(input, cfg);
    let title = match busy.first() {
        Some(b) => format!(
            "No bottleneck at this load; the busiest resource was {} at {} %",
            b.name,
            num(b.mean_pct, 0)
        ),
        None => "No bottleneck at this load; no resource of the target was measured".to_owned(),
    };
    let measured = if busy.is_empty() {
        "Give --target-pid (or a managed target) and --scrape to see how busy the target was."
            .to_owned()
    } else {
        format!(
            "Mean use over the loaded seconds (peak in brackets): {}.",
            busy.iter()
                .map(|b| format!(
                    "{} {} % ({} %)",
                    b.name,
                    num(b.mean_pct, 0),
                    num(b.peak_pct, 0)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut evidence = vec![
        ev("P95 response time", agg.percentiles.p95, "ms", None),
        ev("failed requests", agg.failure_ratio * 100.0, "%", None),
    ];
    for b in &busy {
        evidence.push(ev(&format!("{} (mean)", b.name), b.mean_pct, "%", None));
        evidence.push(ev(&format!("{} (peak)", b.name), b.peak_pct, "%", None));
    }
    Some(Finding {
        kind: FindingKind::NoBottleneck,
        severity: Severity::Info,
        score: 0.0,
        title,
        summary: format!(
            "No rule found anything that limited this run: {} requests, P95 {} ms, {} % \
             failed. {measured}",
            agg.requests,
            num(agg.percentiles.p95, 1),
            num(agg.failure_ratio * 100.0, 2)
        ),
        evidence,
        window: None,
        next_step: "To find where the target's limit is, raise the load until a finding appears \
                    (`cicada capacity` searches for it step by step)."
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::SeriesStat;

    fn report() -> cicada_report::RunReport {
        ReportBuilder::ramp_and_hold(30, 20.0).build(|_, u| Second {
            rps: u * 10.0,
            p95_ms: 8.0,
            ..Second::default()
        })
    }

    #[test]
    fn names_the_busiest_resource_with_its_share() {
        let report = report();
        let resources = resources_with_target(30, |_| (34.0, 100 << 20), |_| 12.0);
        let gauges = scraped(vec![
            series("dryad_db_pool_in_use", SeriesStat::Gauge, 30, |_| 2.0),
            series("dryad_db_pool_max", SeriesStat::Gauge, 30, |_| 8.0),
        ]);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        input.scraped = Some(&gauges);
        let f = no_bottleneck(&input, &FindingsConfig::default(), &[]).expect("finding");
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(
            f.title,
            "No bottleneck at this load; the busiest resource was the target's CPU (2 cores) \
             at 34 %"
        );
        assert!(
            f.summary
                .contains("the database connection pool 25 % (25 %)"),
            "{}",
            f.summary
        );
        assert!(f.evidence.iter().all(|e| !e.unit.is_empty()));
    }

    #[test]
    fn silent_when_something_is_a_warning_and_plain_without_resources() {
        let report = report();
        let input = FindingsInput::new(&report);
        let f = no_bottleneck(&input, &FindingsConfig::default(), &[]).unwrap();
        assert!(f.title.ends_with("no resource of the target was measured"));
        assert!(f.summary.contains("--target-pid"), "{}", f.summary);
        let mut warning = f.clone();
        warning.severity = Severity::Warning;
        assert!(no_bottleneck(&input, &FindingsConfig::default(), &[warning]).is_none());
    }
}
