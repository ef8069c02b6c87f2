//! Error onset: the load at which errors begin, and what kinds they are.

use std::collections::BTreeMap;

use cicada_report::analysis_model::{Finding, FindingKind, TimeWindow};
use cicada_report::model::FailureKind;

use super::timeline::{load_series, load_unit};
use super::{FindingsConfig, FindingsInput, ev, num};

fn kind_name(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Status => "unexpected status",
        FailureKind::Timeout => "timeout",
        FailureKind::Connection => "connection",
        FailureKind::Check => "failed check",
        FailureKind::Protocol => "protocol",
        FailureKind::Other => "other",
    }
}

fn next_step(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Timeout => {
            "Requests time out from this load on: the target is saturated there. Read the \
             latency and resource findings for the cause; raise the timeout only if the SLO \
             allows it."
        }
        FailureKind::Connection => {
            "Connections are refused or reset from this load on: check the target's accept \
             backlog and connection limits (ulimit -n, max connections), and whether it crashed \
             or restarted."
        }
        FailureKind::Status => {
            "The target answers with error statuses from this load on: read its logs at the \
             onset time for the failing handler (overload protection, pool timeouts, panics)."
        }
        FailureKind::Check => {
            "Responses fail their checks from this load on: the target returns wrong or partial \
             content under load; look for races and timeouts that fall back to defaults."
        }
        FailureKind::Protocol | FailureKind::Other => {
            "Responses break from this load on: look at the failure messages and the target's \
             logs at the onset time."
        }
    }
}

pub fn error_onset(input: &FindingsInput<'_>, _cfg: &FindingsConfig) -> Option<Finding> {
    let report = input.report;
    let total_failures: u64 = report.timeline.iter().map(|s| s.failures).sum();
    // Failures from the first requests on, or of users that never got past on_start, are
    // not an onset under load: `from_start` says so.
    if total_failures == 0
        || super::from_start::fails_from_start(report)
        || super::from_start::no_user_started(report)
    {
        return None;
    }
    let tl = &report.timeline;
    // Sustained onset: the first second that starts a run where 2 of 3 seconds fail; else the
    // first failing second (sporadic errors).
    let sustained = (0..tl.len()).find(|&i| {
        tl[i].failures > 0
            && tl[i..(i + 3).min(tl.len())]
                .iter()
                .filter(|s| s.failures > 0)
                .count()
                >= 2
    });
    let i = sustained.or_else(|| tl.iter().position(|s| s.failures > 0))?;
    let onset = &tl[i];
    let load = load_series(report)[i].1;
    let total_requests: u64 = tl.iter().map(|s| s.requests).sum();
    let ratio = total_failures as f64 / total_requests.max(1) as f64;

    let mut by_kind: BTreeMap<FailureKind, (u64, String, u64)> = BTreeMap::new();
    for f in &report.failures {
        let e = by_kind.entry(f.kind).or_insert((0, String::new(), 0));
        e.0 += f.occurrences;
        if f.occurrences > e.2 {
            e.1.clone_from(&f.message);
            e.2 = f.occurrences;
        }
    }
    let kind_total: u64 = by_kind.values().map(|v| v.0).sum();
    let mut kinds: Vec<(FailureKind, u64, String)> = by_kind
        .into_iter()
        .map(|(k, (n, m, _))| (k, n, m))
        .collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let breakdown: Vec<String> = kinds
        .iter()
        .map(|(k, n, m)| {
            format!(
                "{} % {} ({m})",
                num(*n as f64 / kind_total.max(1) as f64 * 100.0, 0),
                kind_name(*k)
            )
        })
        .collect();
    let window = TimeWindow::new(
        onset.elapsed_s as f64 - 1.0,
        tl[tl.len() - 1].elapsed_s as f64,
    );
    let unit = load_unit(report);
    let mut evidence = vec![
        ev("load at onset", load, unit, Some(window)),
        ev("onset", onset.elapsed_s as f64, "s", Some(window)),
        ev(
            "failed requests",
            total_failures as f64,
            "requests",
            Some(window),
        ),
        ev("failure ratio (whole run)", ratio * 100.0, "%", None),
    ];
    for (k, n, _) in &kinds {
        evidence.push(ev(
            &format!("{} failures", kind_name(*k)),
            *n as f64,
            "requests",
            None,
        ));
    }
    let summary = format!(
        "Errors {} at {} {unit} (t = {} s): {} failures, {} % of all requests{}.",
        if sustained.is_some() {
            "begin"
        } else {
            "appear sporadically from"
        },
        num(load, 1),
        onset.elapsed_s,
        total_failures,
        num(ratio * 100.0, 2),
        if breakdown.is_empty() {
            String::new()
        } else {
            format!("; by kind: {}", breakdown.join(", "))
        }
    );
    Some(Finding {
        kind: FindingKind::ErrorOnset,
        severity: super::severity::from_error_ratio(ratio),
        score: 600.0 + (ratio * 100.0).min(100.0),
        title: format!("Errors begin at {} {unit}", num(load, 1)),
        summary,
        evidence,
        window: Some(window),
        next_step: next_step(kinds.first().map_or(FailureKind::Other, |k| k.0)).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;

    #[test]
    fn errors_beginning_at_a_load_step_are_dated_and_broken_down() {
        let mut report =
            ReportBuilder::steps(&[(20, 10.0), (20, 20.0), (20, 40.0)]).build(|t, u| Second {
                rps: u * 10.0,
                p95_ms: 10.0,
                // A stray error at t = 5, sustained from t = 41.
                failures: if t == 5 || t > 40 { 20 } else { 0 },
                ..Second::default()
            });
        report.failures.push(cicada_report::model::FailureRow {
            user_type: None,
            method: "GET".into(),
            name: "GET /".into(),
            kind: FailureKind::Timeout,
            message: "request timed out after 5s".into(),
            occurrences: 800,
            body_excerpt: None,
        });
        let input = FindingsInput::new(&report);
        let f = error_onset(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.title, "Errors begin at 40 users");
        assert!(f.summary.contains("t = 41 s"), "{}", f.summary);
        // 420 status (from the builder) + 800 timeouts.
        assert!(
            f.summary
                .contains("66 % timeout (request timed out after 5s)"),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains("34 % unexpected status (HTTP 503)"),
            "{}",
            f.summary
        );
        assert!(f.next_step.starts_with("Requests time out"));
        assert_eq!(f.severity, Severity::Critical);
    }

    #[test]
    fn sporadic_errors_are_reported_as_such_and_no_errors_as_nothing() {
        let report = ReportBuilder::ramp_and_hold(60, 50.0).build(|t, u| Second {
            rps: u * 100.0,
            p95_ms: 10.0,
            failures: u64::from(t == 30),
            ..Second::default()
        });
        let f = error_onset(&FindingsInput::new(&report), &FindingsConfig::default()).unwrap();
        assert!(f.summary.contains("appear sporadically"), "{}", f.summary);
        // One failure in hundreds of thousands of requests: information.
        assert_eq!(f.severity, Severity::Info);
        let clean = ReportBuilder::ramp_and_hold(60, 50.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            ..Second::default()
        });
        assert!(error_onset(&FindingsInput::new(&clean), &FindingsConfig::default()).is_none());
    }
}
