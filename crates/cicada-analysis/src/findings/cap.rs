//! The concurrency cap reached because the target is slow: an open-model run drops the
//! arrivals that find all `--max-concurrency` iterations still in flight. When the generator
//! had CPU to spare then ([`super::generator::Busy`]), the iterations were in flight because
//! the target answered slowly: the planned rate was not applied, and the generator is not to
//! blame. Little's law says how many would have had to be in flight.

use cicada_report::analysis_model::{Finding, FindingKind, TimeWindow};
use cicada_report::model::LoadModel;

use super::generator::Busy;
use super::timeline::seconds_to_windows;
use super::{FindingsConfig, FindingsInput, ev, num, severity};

pub fn concurrency_cap(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let report = input.report;
    if report.run.plan.model != LoadModel::Open {
        return None;
    }
    let busy = Busy::of(input, cfg);
    let at_cap: Vec<(u64, u64)> = report
        .timeline
        .iter()
        .filter_map(|s| Some((s.elapsed_s, s.dropped_iterations.filter(|&d| d > 0)?)))
        .filter(|&(s, _)| !busy.explains_drops_at(s))
        .collect();
    let dropped: u64 = at_cap.iter().map(|d| d.1).sum();
    if dropped == 0 {
        return None;
    }
    let seconds: Vec<u64> = at_cap.iter().map(|d| d.0).collect();
    let windows = seconds_to_windows(&seconds);
    let window = TimeWindow::new(windows[0].start_s, windows[windows.len() - 1].end_s);
    let planned = report
        .open_model
        .as_ref()
        .map_or(0, |o| o.scheduled_iterations)
        .max(dropped);
    let share = dropped as f64 / planned.max(1) as f64;
    let cap = report
        .run
        .plan
        .max_concurrency
        .map(|c| c as f64)
        .or_else(|| {
            report
                .open_model
                .as_ref()
                .map(|o| o.peak_concurrency as f64)
        })
        .unwrap_or(0.0);
    let agg = &report.aggregated;
    let planned_rate = planned as f64 / report.run.duration_s.max(1.0);
    // Little's law: in flight = arrival rate × time in the system.
    let needed = planned_rate * agg.mean_ms / 1000.0;
    let mut evidence = vec![
        ev(
            "dropped iterations",
            dropped as f64,
            "iterations",
            Some(window),
        ),
        ev(
            "dropped, share of planned",
            share * 100.0,
            "%",
            Some(window),
        ),
        ev("concurrency cap", cap, "iterations", None),
        ev("mean response time", agg.mean_ms, "ms", None),
        ev(
            "iterations in flight the planned rate needs (rate × mean time)",
            needed,
            "iterations",
            None,
        ),
    ];
    if let Some(p) = busy.peak_cpu {
        evidence.push(ev("generator CPU (peak, % of allowed)", p, "%", None));
    }
    let achieved = agg.requests as f64 / report.run.duration_s.max(1.0);
    Some(Finding {
        kind: FindingKind::ConcurrencyCapReached,
        severity: severity::from_dropped_share(share),
        score: 900.0 + 100.0 * share,
        title: format!(
            "The concurrency cap of {} was reached because the target answered slowly",
            num(cap, 0)
        ),
        summary: format!(
            "{dropped} of {planned} planned iterations ({} %) were not sent: all {} allowed \
             iterations were still waiting for responses (mean {} ms), while the generator {}. \
             The planned {} iterations/s needed about {} in flight; the target completed {} \
             requests/s. The results describe the target at the rate it sustained, not the \
             planned one.",
            num(share * 100.0, 1),
            num(cap, 0),
            num(agg.mean_ms, 1),
            busy.peak_cpu.map_or_else(
                || "was not measured".to_owned(),
                |p| format!("had CPU to spare (peak {} % of its cores)", num(p, 0))
            ),
            num(planned_rate, 1),
            num(needed, 1),
            num(achieved, 1)
        ),
        evidence,
        window: Some(window),
        next_step: "The target is the limit at this rate, not the generator: read the next \
                    finding for why it is slow. Raising --max-concurrency only queues more work \
                    on it; lower --rate to what it sustains, or fix the cause and run again."
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;

    fn open(dropped: u64) -> cicada_report::RunReport {
        let mut report = ReportBuilder {
            seconds: 10,
            users: Box::new(|_| 4.0),
            model: LoadModel::Open,
        }
        .build(|_, _| Second {
            rps: 25.0,
            p95_ms: 300.0,
            schedule_lag_p99_ms: Some(0.4),
            dropped: Some(dropped),
            ..Second::default()
        });
        report.run.plan.max_concurrency = Some(4);
        report
    }

    #[test]
    fn drops_with_an_idle_generator_name_the_slow_target() {
        let report = open(35);
        let resources = resources_with_target(10, |_| (50.0, 1 << 20), |_| 10.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = concurrency_cap(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(
            f.title,
            "The concurrency cap of 4 was reached because the target answered slowly"
        );
        assert!(f.summary.contains("350 of 350 planned"), "{}", f.summary);
        assert!(f.summary.contains("peak 10 %"), "{}", f.summary);
        assert_eq!(f.severity, Severity::Critical);
        // The generator is healthy.
        let (health, saturated) =
            super::super::generator::assess(&input, &FindingsConfig::default());
        assert!(health.healthy, "{}", health.verdict);
        assert!(saturated.is_none());
    }

    #[test]
    fn drops_with_a_busy_generator_or_none_at_all_are_not_this() {
        let report = open(35);
        let busy = resources_with_target(10, |_| (50.0, 1 << 20), |_| 97.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&busy);
        assert!(concurrency_cap(&input, &FindingsConfig::default()).is_none());
        let (health, _) = super::super::generator::assess(&input, &FindingsConfig::default());
        assert!(!health.healthy);
        let none = open(0);
        assert!(concurrency_cap(&FindingsInput::new(&none), &FindingsConfig::default()).is_none());
    }
}
