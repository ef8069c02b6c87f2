//! Errors from the first request: most requests of the run's first seconds, at its lowest
//! load, already failed. That is not a load problem (bad credentials, a wrong path or method,
//! users that never got past `on_start`, a target that is not there), and saying "errors
//! begin under load" would send the reader to look for overload.

use cicada_report::analysis_model::{Finding, FindingKind, TimeWindow};
use cicada_report::model::{FailureKind, FailureRow, RunReport};

use super::timeline::{load_series, load_unit};
use super::{FindingsConfig, FindingsInput, ev, num, severity};

/// Seconds at the start of the loaded run that are looked at.
const FIRST_SECONDS: usize = 3;
/// Share of those seconds' requests that must have failed.
const FAILED_SHARE: f64 = 0.5;

/// Whether the run's failures start with its first requests (see the module).
pub fn fails_from_start(report: &RunReport) -> bool {
    let first: Vec<_> = report
        .timeline
        .iter()
        .filter(|s| s.requests > 0 || s.failures > 0)
        .take(FIRST_SECONDS)
        .collect();
    let requests: u64 = first.iter().map(|s| s.requests).sum();
    let failures: u64 = first.iter().map(|s| s.failures).sum();
    requests > 0 && failures as f64 >= FAILED_SHARE * requests as f64
}

/// Whether no user of the run got past `on_start` (every one spawned never ran a task).
pub fn no_user_started(report: &RunReport) -> bool {
    report
        .users
        .as_ref()
        .is_some_and(|u| u.spawned > 0 && u.never_started == u.spawned)
}

/// `"HTTP 401"` → 401.
fn status_of(message: &str) -> Option<u16> {
    message
        .strip_prefix("HTTP ")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn next_step(top: &FailureRow) -> String {
    let what = format!("{} {}", top.method, top.name);
    let what = what.trim();
    match (top.kind, status_of(&top.message)) {
        (FailureKind::Status, Some(401 | 403)) => format!(
            "{what} is refused from the first request ({}): check the credentials and token \
             the scenario sends (its variables, the on_start login and the Authorization \
             header), then run again. No load was measured.",
            top.message
        ),
        (FailureKind::Status, Some(404 | 405)) => format!(
            "{what} answers {} from the first request: check the path and method against the \
             target's API (its OpenAPI document) and the -H base URL, then run again.",
            top.message
        ),
        (FailureKind::Connection, _) => {
            "The target refused or dropped connections from the first request: check that it \
             runs and listens at the -H URL."
                .to_owned()
        }
        (FailureKind::Check, _) => format!(
            "{what} fails its checks from the first request: the check or the response is \
             wrong at any load; compare a single response with the check."
        ),
        _ => format!(
            "{what} fails from the first request ({}): read one failing response and the \
             target's log; this is not a load problem.",
            top.message
        ),
    }
}

/// The finding when no user got past `on_start`: it names the request that failed, its
/// status and the start of the body, and sends the reader to the data the scenario logs in
/// with.
fn never_started(report: &RunReport, base: Finding) -> Finding {
    let Some(users) = report.users.as_ref() else {
        return base;
    };
    let Some(f) = users.failed_request.as_ref() else {
        return base;
    };
    let excerpt = f
        .body_excerpt
        .as_deref()
        .map(cicada_report::model::one_line)
        .filter(|e| !e.is_empty())
        .map(|e| format!(" {e}"))
        .unwrap_or_default();
    let title = format!(
        "No user got past on_start: {} of {} users failed {} with {}{excerpt}",
        users.never_started,
        users.spawned,
        f.request(),
        f.message
    );
    let summary = format!(
        "Every user's on_start failed, so no user ran a task: the task rows measured nothing          (\"—\"), and the only requests sent were on_start's. {}",
        base.summary
    );
    let next_step = match f.kind {
        FailureKind::Status | FailureKind::Check | FailureKind::Protocol => format!(
            "Check the credentials and data the scenario logs in with (its variables and              feeder rows, the on_start request's body and headers) against what {} expects;              the target answered {}{excerpt}. Run again once one login by hand succeeds.",
            f.request(),
            f.message
        ),
        _ => base.next_step.clone(),
    };
    let mut evidence = vec![
        ev(
            "users never started",
            users.never_started as f64,
            "users",
            None,
        ),
        ev("users spawned", users.spawned as f64, "users", None),
    ];
    evidence.extend(base.evidence);
    Finding {
        title,
        summary,
        next_step,
        evidence,
        ..base
    }
}

pub fn errors_from_start(input: &FindingsInput<'_>, _cfg: &FindingsConfig) -> Option<Finding> {
    let report = input.report;
    let stuck_in_on_start = no_user_started(report);
    if !fails_from_start(report) && !stuck_in_on_start {
        return None;
    }
    let tl = &report.timeline;
    let total_failures: u64 = tl.iter().map(|s| s.failures).sum();
    let total_requests: u64 = tl.iter().map(|s| s.requests).sum();
    let ratio = total_failures as f64 / total_requests.max(1) as f64;
    let i = tl.iter().position(|s| s.requests > 0 || s.failures > 0)?;
    let first = &tl[i];
    let load = load_series(report)[i].1;
    let unit = load_unit(report);
    let top = report.failures.iter().max_by_key(|f| f.occurrences)?;
    let top_label = format!("{} {}", top.method, top.name);
    let top_label = if top.name.starts_with(&top.method) {
        top.name.clone()
    } else {
        top_label.trim().to_owned()
    };
    let failing_rows: Vec<_> = report.requests.iter().filter(|r| r.failures > 0).collect();
    let sent_rows = report.requests.iter().filter(|r| r.requests > 0).count();
    // Every request the run sent was to rows that failed: no user got further (a failed
    // on_start keeps its user from running any task).
    let stuck = failing_rows.len() == sent_rows;
    let window = TimeWindow::new(
        first.elapsed_s as f64 - 1.0,
        tl[tl.len() - 1].elapsed_s as f64,
    );
    let mut summary = format!(
        "{} of {} requests failed ({} %), from the first second of traffic (t = {} s, {} \
         {}); the most common failure: {top_label} {} ({} times).",
        total_failures,
        total_requests,
        num(ratio * 100.0, 1),
        first.elapsed_s,
        num(load, 1),
        if load == 1.0 {
            unit.trim_end_matches('s')
        } else {
            unit
        },
        top.message,
        top.occurrences
    );
    if stuck {
        summary.push_str(&format!(
            " Only {} sent requests, and every one of them failed: the users never got past \
             it (a failed on_start keeps a user from running its tasks).",
            failing_rows
                .iter()
                .map(|r| format!("{} {}", r.method, r.name).trim().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let finding = Finding {
        kind: FindingKind::ErrorsFromStart,
        severity: severity::from_error_ratio(ratio),
        score: 700.0 + (ratio * 100.0).min(100.0),
        title: format!("{top_label} fails from the first request ({})", top.message),
        summary,
        evidence: vec![
            ev(
                "failed requests",
                total_failures as f64,
                "requests",
                Some(window),
            ),
            ev("failure ratio (whole run)", ratio * 100.0, "%", None),
            ev("first failure", first.elapsed_s as f64, "s", Some(window)),
            ev("load at the first failure", load, unit, Some(window)),
        ],
        window: Some(window),
        next_step: next_step(top),
    };
    Some(if stuck_in_on_start {
        never_started(report, finding)
    } else {
        finding
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;

    fn failing(from: u64) -> RunReport {
        let mut report = ReportBuilder::ramp_and_hold(20, 5.0).build(|t, u| Second {
            rps: u * 4.0,
            p95_ms: 3.0,
            failures: if t >= from { (u * 4.0) as u64 } else { 0 },
            by_request: vec![("/api/v1/auth/login", (u * 4.0) as u64, 3.0)],
            ..Second::default()
        });
        for f in &mut report.failures {
            f.message = "HTTP 401".into();
        }
        report
    }

    #[test]
    fn every_login_refused_from_the_start_is_not_an_onset_under_load() {
        let report = failing(1);
        let f = errors_from_start(&FindingsInput::new(&report), &FindingsConfig::default())
            .expect("finding");
        assert_eq!(
            f.title,
            "GET /api/v1/auth/login fails from the first request (HTTP 401)"
        );
        assert!(f.summary.contains("t = 1 s, 1 user)"), "{}", f.summary);
        assert!(f.summary.contains("never got past it"), "{}", f.summary);
        assert!(f.next_step.contains("credentials"), "{}", f.next_step);
        assert_eq!(f.severity, Severity::Critical);
        // error_onset leaves these failures to this rule.
        assert!(
            super::super::errors::error_onset(
                &FindingsInput::new(&report),
                &FindingsConfig::default()
            )
            .is_none()
        );
    }

    #[test]
    fn users_that_never_got_past_on_start_are_named_with_the_request_status_and_body() {
        let mut report = failing(1);
        report.failures[0].method = "POST".into();
        report.failures[0].body_excerpt = Some("{\"error\":\"invalid credentials\"}\n".into());
        report.users = Some(cicada_report::model::UserStarts {
            spawned: 40,
            never_started: 40,
            failed_request: Some(report.failures[0].clone()),
        });
        let f = errors_from_start(&FindingsInput::new(&report), &FindingsConfig::default())
            .expect("finding");
        assert_eq!(
            f.title,
            "No user got past on_start: 40 of 40 users failed POST /api/v1/auth/login with \
             HTTP 401 {\"error\":\"invalid credentials\"}"
        );
        assert!(
            f.next_step.contains("credentials and data"),
            "{}",
            f.next_step
        );
        assert!(f.summary.contains("no user ran a task"), "{}", f.summary);
        let never = f
            .evidence
            .iter()
            .find(|e| e.label == "users never started")
            .expect("evidence");
        assert_eq!((never.value, never.unit.as_str()), (40.0, "users"));
        assert_eq!(f.severity, Severity::Critical);
        // Not "errors begin at N users", even when the first seconds were not mostly failures
        // (a late spawn of users whose login fails).
        let mut late = failing(12);
        late.users = report.users.clone();
        assert!(no_user_started(&late));
        assert!(
            super::super::errors::error_onset(
                &FindingsInput::new(&late),
                &FindingsConfig::default()
            )
            .is_none()
        );
        assert!(
            errors_from_start(&FindingsInput::new(&late), &FindingsConfig::default())
                .is_some_and(|f| f.title.starts_with("No user got past on_start"))
        );
    }

    #[test]
    fn errors_that_start_later_are_not_from_the_start() {
        let report = failing(12);
        assert!(
            errors_from_start(&FindingsInput::new(&report), &FindingsConfig::default()).is_none()
        );
        let clean = ReportBuilder::ramp_and_hold(20, 5.0).build(|_, u| Second {
            rps: u,
            p95_ms: 3.0,
            ..Second::default()
        });
        assert!(!fails_from_start(&clean));
    }

    #[test]
    fn a_wrong_path_says_to_check_the_path() {
        let mut report = failing(1);
        report.failures[0].message = "HTTP 404".into();
        report.failures[0].name = "/api/v1/agent".into();
        report.failures[0].method = "GET".into();
        let f =
            errors_from_start(&FindingsInput::new(&report), &FindingsConfig::default()).unwrap();
        assert!(f.next_step.contains("check the path"), "{}", f.next_step);
        assert_eq!(status_of("HTTP 503 Service Unavailable"), Some(503));
        assert_eq!(status_of("timeout"), None);
    }
}
