//! Target restarted: the service went down and came back during the run, so the numbers
//! before and after are of different processes (cold caches, new pools, lost in-flight work)
//! and the requests in between failed. Seen three ways, merged when they agree:
//!
//! - the sampled process tree: a long-lived member exited and a new process of the same name
//!   took its place (a supervisor or a shell loop restarting it), see
//!   [`crate::resources::tree`];
//! - the target's own `process_start_time_seconds` (scraped) changed;
//! - the sampled target process itself exited before the run ended (and was not followed).
//!
//! The verdict questions the run, so the ranking policy puts it first.

use cicada_report::analysis_model::{Finding, FindingKind, Severity, TimeWindow};
use cicada_report::model::FailureKind;

use super::{FindingsConfig, FindingsInput, ev, num};

/// The scraped metric holding the process's start time (Prometheus client convention).
const START_TIME_METRIC: &str = "process_start_time_seconds";
/// Two sightings of one restart closer than this are the same restart.
const SAME_RESTART_S: f64 = 5.0;
/// How long after the target is back failures still count as the restart's.
const RECOVERY_S: f64 = 10.0;

/// One restart (or exit) of the target.
#[derive(Debug, Clone, PartialEq)]
struct Restart {
    /// Last moment the old process was seen up.
    down_after_s: f64,
    /// First moment the new one was seen up (`None`: it did not come back).
    back_at_s: Option<f64>,
    what: String,
}

fn from_tree(input: &FindingsInput<'_>) -> Vec<Restart> {
    let Some(target) = input.resources.and_then(|r| r.target.as_ref()) else {
        return Vec::new();
    };
    let mut out: Vec<Restart> = target
        .restarts
        .iter()
        .map(|r| Restart {
            down_after_s: r.exited_after_s,
            back_at_s: Some(r.restarted_at_s),
            what: format!(
                "{name} (pid {}) exited after {} s and a new {name} (pid {}) was running at {} s",
                r.old_pid,
                num(r.exited_after_s, 0),
                r.new_pid,
                num(r.restarted_at_s, 0),
                name = r.name,
            ),
        })
        .collect();
    // The sampled process itself exited, well before the end of the run.
    if target.ended.is_some()
        && let Some(last) = target.samples.last()
        && last.elapsed_s < input.report.run.duration_s - 2.0
    {
        out.push(Restart {
            down_after_s: last.elapsed_s,
            back_at_s: None,
            what: format!(
                "the target process (pid {}) exited after {} s",
                target.pid,
                num(last.elapsed_s, 0)
            ),
        });
    }
    out
}

fn from_start_time(input: &FindingsInput<'_>) -> Vec<Restart> {
    let mut out = Vec::new();
    let Some(scraped) = input.scraped else {
        return out;
    };
    for s in scraped
        .series
        .iter()
        .filter(|s| s.name == START_TIME_METRIC)
    {
        for w in s.points.windows(2) {
            if (w[1].value - w[0].value).abs() >= 0.5 {
                out.push(Restart {
                    down_after_s: w[0].elapsed_s,
                    back_at_s: Some(w[1].elapsed_s),
                    what: format!(
                        "its {START_TIME_METRIC} changed by {} s between the scrapes at {} s \
                         and {} s",
                        num(w[1].value - w[0].value, 0),
                        num(w[0].elapsed_s, 0),
                        num(w[1].elapsed_s, 0)
                    ),
                });
            }
        }
    }
    out
}

/// Failures in the run's seconds from `from` (exclusive) to `to` (inclusive).
fn failures_between(input: &FindingsInput<'_>, from: f64, to: f64) -> u64 {
    input
        .report
        .timeline
        .iter()
        .filter(|s| (s.elapsed_s as f64) > from.floor() && (s.elapsed_s as f64) <= to.ceil())
        .map(|s| s.failures)
        .sum()
}

/// Where the restart's failures end: the first second after the target is back that has
/// none, at most [`RECOVERY_S`] later (the end of the run for a target that did not return).
fn recovered_at(input: &FindingsInput<'_>, r: &Restart) -> f64 {
    let Some(back) = r.back_at_s else {
        return input.report.run.duration_s;
    };
    input
        .report
        .timeline
        .iter()
        .map(|s| (s.elapsed_s as f64, s.failures))
        .filter(|(t, _)| *t > back && *t <= back + RECOVERY_S)
        .find(|(_, f)| *f == 0)
        .map_or(back + RECOVERY_S, |(t, _)| t - 1.0)
        .max(back)
}

pub fn target_restarted(input: &FindingsInput<'_>, _cfg: &FindingsConfig) -> Option<Finding> {
    let mut restarts = from_tree(input);
    // The scraped start time confirms (or, without tree sampling, finds) restarts.
    for r in from_start_time(input) {
        if !restarts
            .iter()
            .any(|k| (k.down_after_s - r.down_after_s).abs() <= SAME_RESTART_S)
        {
            restarts.push(r);
        }
    }
    if restarts.is_empty() {
        return None;
    }
    restarts.sort_by(|a, b| a.down_after_s.total_cmp(&b.down_after_s));
    let first = &restarts[0];
    let last_end = restarts
        .iter()
        .map(|r| recovered_at(input, r))
        .fold(f64::MIN, f64::max);
    let window = TimeWindow::new(first.down_after_s, last_end.max(first.down_after_s));
    let failed: u64 = restarts
        .iter()
        .map(|r| failures_between(input, r.down_after_s, recovered_at(input, r)))
        .sum();
    let connection_errors: u64 = input
        .report
        .failures
        .iter()
        .filter(|f| f.kind == FailureKind::Connection)
        .map(|f| f.occurrences)
        .sum();
    let downtime: f64 = restarts
        .iter()
        .map(|r| r.back_at_s.unwrap_or(input.report.run.duration_s) - r.down_after_s)
        .sum();
    let came_back = restarts.iter().all(|r| r.back_at_s.is_some());
    let n = restarts.len();
    let title = match (n, came_back) {
        (1, true) => format!(
            "The target restarted {} s into the run",
            num(first.down_after_s, 0)
        ),
        (1, false) => format!(
            "The target exited {} s into the run",
            num(first.down_after_s, 0)
        ),
        _ => format!(
            "The target restarted {n} times during the run (first {} s in)",
            num(first.down_after_s, 0)
        ),
    };
    let whats: Vec<&str> = restarts.iter().take(3).map(|r| r.what.as_str()).collect();
    let more = if n > 3 {
        format!(" and {} more", n - 3)
    } else {
        String::new()
    };
    let summary = format!(
        "The target went down during the run: {}{more}. {failed} requests failed around {} \
         ({connection_errors} connection errors in the whole run). The numbers before and \
         after are of different processes (cold caches, new connection pools, lost in-flight \
         work), so read every other finding with that in mind.",
        whats.join("; "),
        if n == 1 { "it" } else { "them" }
    );
    let mut evidence = vec![
        ev("restarts", n as f64, "restarts", Some(window)),
        ev(
            "first went down at",
            first.down_after_s,
            "s into the run",
            Some(window),
        ),
        ev(
            "requests failed around the restarts",
            failed as f64,
            "requests",
            Some(window),
        ),
        ev("time down (between samples)", downtime, "s", Some(window)),
    ];
    if connection_errors > 0 {
        evidence.push(ev(
            "connection errors (whole run)",
            connection_errors as f64,
            "requests",
            None,
        ));
    }
    Some(Finding {
        kind: FindingKind::TargetRestarted,
        severity: Severity::Critical,
        score: 2000.0 + failed as f64,
        title,
        summary,
        evidence,
        window: Some(window),
        next_step: format!(
            "Find out why the target exited at {} s: its log around then (`--target-log FILE` \
             keeps a managed target's output) and its exit code — a panic or crash exit, or \
             137 (SIGKILL) from the kernel's OOM killer (`dmesg | grep -i oom`) or a \
             container's memory limit. Fix that first; then run again for numbers of one \
             process.",
            num(first.down_after_s, 0)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::{ProcessRestart, SeriesStat};
    use cicada_report::model::FailureRow;

    /// 20 s of 10 users; connection errors in seconds 5–7 when `outage`.
    fn run(outage: bool) -> cicada_report::RunReport {
        let mut report = ReportBuilder::ramp_and_hold(20, 10.0).build(|t, _| Second {
            rps: 100.0,
            p95_ms: 5.0,
            failures: if outage && (5..=7).contains(&t) {
                30
            } else {
                0
            },
            ..Second::default()
        });
        if outage {
            report.failures.push(FailureRow {
                user_type: None,
                method: "GET".into(),
                name: "/health".into(),
                kind: FailureKind::Connection,
                message: "connection refused".into(),
                occurrences: 90,
                body_excerpt: None,
            });
        }
        report
    }

    #[test]
    fn a_restart_in_the_tree_is_found_with_its_failures() {
        let report = run(true);
        let mut resources = resources_with_target(20, |_| (30.0, 100 << 20), |_| 20.0);
        resources
            .target
            .as_mut()
            .unwrap()
            .restarts
            .push(ProcessRestart {
                exited_after_s: 4.0,
                restarted_at_s: 6.0,
                name: "dryad".into(),
                old_pid: 10,
                new_pid: 11,
            });
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = target_restarted(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.kind, FindingKind::TargetRestarted);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.title, "The target restarted 4 s into the run");
        assert!(
            f.summary.contains("dryad (pid 10) exited after 4 s"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("90 requests failed"), "{}", f.summary);
        assert_eq!(f.window, Some(TimeWindow::new(4.0, 7.0)));
        assert!(f.next_step.contains("OOM"), "{}", f.next_step);
        // First, before every bottleneck, even a critical one.
        let out = super::super::analyze(&input, &FindingsConfig::default());
        assert_eq!(out.findings[0].kind, FindingKind::TargetRestarted);
    }

    #[test]
    fn a_changed_start_time_is_a_restart_and_agrees_with_the_tree() {
        let report = run(true);
        let start = scraped(vec![series(
            START_TIME_METRIC,
            SeriesStat::Gauge,
            20,
            |t| if t <= 5 { 1.7e9 } else { 1.7e9 + 6.0 },
        )]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&start);
        let f = target_restarted(&input, &FindingsConfig::default()).expect("finding");
        assert!(
            f.summary
                .contains("process_start_time_seconds changed by 6 s")
        );
        assert_eq!(f.evidence[0].value, 1.0);
        // Seen both ways: one restart, not two.
        let mut resources = resources_with_target(20, |_| (30.0, 100 << 20), |_| 20.0);
        resources
            .target
            .as_mut()
            .unwrap()
            .restarts
            .push(ProcessRestart {
                exited_after_s: 4.0,
                restarted_at_s: 6.0,
                name: "dryad".into(),
                old_pid: 10,
                new_pid: 11,
            });
        input.resources = Some(&resources);
        let f = target_restarted(&input, &FindingsConfig::default()).unwrap();
        assert_eq!(f.evidence[0].value, 1.0, "{:?}", f.evidence);
    }

    #[test]
    fn a_target_that_exits_for_good_is_said_so() {
        let report = run(false);
        let mut resources = resources_with_target(8, |_| (30.0, 100 << 20), |_| 20.0);
        resources.target.as_mut().unwrap().ended = Some("process 42 is gone at 9s".into());
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = target_restarted(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.title, "The target exited 8 s into the run");
    }

    #[test]
    fn a_healthy_run_and_plain_errors_are_not_restarts() {
        // Connection errors alone (overload, a wrong port) are not a restart.
        let report = run(true);
        let resources = resources_with_target(20, |_| (30.0, 100 << 20), |_| 20.0);
        let steady = scraped(vec![series(
            START_TIME_METRIC,
            SeriesStat::Gauge,
            20,
            |_| 1.7e9,
        )]);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        input.scraped = Some(&steady);
        assert!(target_restarted(&input, &FindingsConfig::default()).is_none());
        // A target sampled to the end of the run did not exit.
        let mut ended = resources_with_target(20, |_| (30.0, 100 << 20), |_| 20.0);
        ended.target.as_mut().unwrap().ended = Some("gone at the end".into());
        input.resources = Some(&ended);
        assert!(target_restarted(&input, &FindingsConfig::default()).is_none());
    }
}
