//! The pass / fail decision of a run: the one function ([`decide`]) that every front end's
//! verdict comes from. The engine calls it when it builds a report, `cicada merge` when it
//! judges merged numbers again; renderers only show the [`Verdict`] it returns.
//!
//! The rule, as Locust's `--exit-code-on-error`: a run **fails** when
//! 1. a threshold fails — exit code 1; or
//! 2. a request failed that no *error threshold* allows — exit code `exit_code_on_error`
//!    (1 by default). An error threshold is an `error_rate` or `failures` threshold; it allows
//!    the failures of the rows its scope covers (`error_rate<1%` all of them,
//!    `GET /x: error_rate<5%` those of `GET /x`), and judges them itself.
//!
//! With `exit_code_on_error` 0 such failures do not fail the run, and the reason says how many
//! there were. A threshold failure outranks failed requests (exit 1 even with both).

use cicada_report::model::{ThresholdResult, Verdict};

use crate::threshold::{Metric, Threshold};

/// One request row as the decision sees it.
#[derive(Debug, Clone, Copy)]
pub struct RowFailures<'a> {
    pub method: &'a str,
    pub name: &'a str,
    pub requests: u64,
    pub failures: u64,
}

/// Exit code of a failed threshold.
pub const THRESHOLD_FAILED_CODE: u8 = 1;

/// Whether a threshold judges failed requests (and so allows those of its rows).
pub fn is_error_threshold(t: &Threshold) -> bool {
    matches!(t.metric, Metric::ErrorRate | Metric::Failures)
}

/// Decide the verdict of a run from its thresholds (parsed, with their results, in the same
/// order), its request rows, the `exit_code_on_error` in effect and the warnings so far.
/// `never_started` is the line saying that users never got past `on_start`
/// ([`cicada_report::model::UserStarts::headline`]): it comes first in the reason, because
/// every other figure of such a run measured nothing of the tasks.
pub fn decide(
    thresholds: &[Threshold],
    results: &[ThresholdResult],
    rows: &[RowFailures<'_>],
    exit_code_on_error: u8,
    never_started: Option<String>,
    warnings: Vec<String>,
) -> Verdict {
    let failed = failed_lines(results);
    let total_requests: u64 = rows.iter().map(|r| r.requests).sum();
    let total_failures: u64 = rows.iter().map(|r| r.failures).sum();
    let unallowed: u64 = rows
        .iter()
        .filter(|r| {
            !thresholds
                .iter()
                .any(|t| is_error_threshold(t) && t.scope.matches(r.method, r.name))
        })
        .map(|r| r.failures)
        .sum();
    let requests_line = (unallowed > 0).then(|| {
        let allowed = total_failures - unallowed;
        let of = if allowed == 0 {
            format!("{unallowed} of {total_requests} requests failed")
        } else {
            format!(
                "{unallowed} of {total_requests} requests failed outside any error threshold \
                 ({allowed} more within one)"
            )
        };
        if thresholds.iter().any(is_error_threshold) {
            format!("{of}; no error threshold covers their rows")
        } else {
            format!("{of}; no threshold allows failed requests")
        }
    });
    let thresholds_line = (!failed.is_empty()).then(|| {
        format!(
            "{} of {} threshold{} failed",
            failed.len(),
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        )
    });
    let requests_fail = requests_line.is_some() && exit_code_on_error != 0;
    let (passed, exit_code) = if thresholds_line.is_some() {
        (false, THRESHOLD_FAILED_CODE)
    } else if requests_fail {
        (false, exit_code_on_error)
    } else {
        (true, 0)
    };
    let reason = match (thresholds_line, requests_line) {
        (Some(t), Some(r)) if requests_fail => format!("{t}; {r}"),
        (Some(t), _) => t,
        (None, Some(r)) if requests_fail => r,
        (None, Some(r)) => format!(
            "{r}, ignored: --exit-code-on-error 0 (every threshold passed{})",
            if results.is_empty() { ", none set" } else { "" }
        ),
        (None, None) if results.is_empty() => {
            format!("no request failed ({total_requests} requests; no thresholds set)")
        }
        (None, None) => format!(
            "all {} threshold{} passed",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        ),
    };
    let reason = match never_started {
        Some(first) => format!("{first}; {reason}"),
        None => reason,
    };
    Verdict {
        passed,
        failed,
        warnings,
        reason,
        exit_code: Some(exit_code),
        unallowed_failures: unallowed,
        exit_code_on_error,
    }
}

/// One line per failed threshold, for [`Verdict::failed`].
pub fn failed_lines(results: &[ThresholdResult]) -> Vec<String> {
    results
        .iter()
        .filter(|t| !t.passed)
        .map(|t| match t.observed {
            Some(o) => format!("{}: measured {}", t.expression, fmt_value(o, &t.unit)),
            None => format!("{}: no requests measured", t.expression),
        })
        .collect()
}

fn fmt_value(v: f64, unit: &str) -> String {
    let v = (v * 1000.0).round() / 1000.0;
    format!("{v}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::ThresholdSource;

    fn t(expr: &str) -> Threshold {
        Threshold::parse(expr, ThresholdSource::Cli).unwrap()
    }

    fn result(expr: &str, passed: bool) -> ThresholdResult {
        ThresholdResult {
            expression: expr.into(),
            scope: None,
            metric: "p95".into(),
            op: "<".into(),
            limit: 200.0,
            observed: Some(if passed { 10.0 } else { 300.0 }),
            unit: "ms".into(),
            passed,
            source: "cli".into(),
        }
    }

    fn row<'a>(method: &'a str, name: &'a str, requests: u64, failures: u64) -> RowFailures<'a> {
        RowFailures {
            method,
            name,
            requests,
            failures,
        }
    }

    #[test]
    fn any_failed_request_fails_a_run_without_thresholds() {
        let v = decide(&[], &[], &[row("POST", "/login", 50, 50)], 1, None, vec![]);
        assert!(!v.passed);
        assert_eq!(v.exit_code, Some(1));
        assert_eq!(v.unallowed_failures, 50);
        assert_eq!(
            v.reason,
            "50 of 50 requests failed; no threshold allows failed requests"
        );
    }

    #[test]
    fn the_error_code_is_the_one_asked_for_and_zero_lets_the_run_pass_saying_why() {
        let rows = [row("GET", "/a", 10, 3)];
        let v = decide(&[], &[], &rows, 7, None, vec![]);
        assert_eq!((v.passed, v.exit_code), (false, Some(7)));
        let v = decide(&[], &[], &rows, 0, None, vec![]);
        assert_eq!((v.passed, v.exit_code), (true, Some(0)));
        assert!(
            v.reason.starts_with("3 of 10 requests failed") && v.reason.contains("ignored"),
            "{}",
            v.reason
        );
        assert_eq!(v.unallowed_failures, 3);
    }

    #[test]
    fn users_that_never_started_come_first_in_the_reason() {
        let line = "40 of 40 users never started their tasks: on_start failed at POST /login \
                    with HTTP 401 {\"error\":\"invalid credentials\"}";
        let v = decide(
            &[],
            &[],
            &[row("POST", "/login", 40, 40)],
            1,
            Some(line.to_string()),
            vec![],
        );
        assert_eq!((v.passed, v.exit_code), (false, Some(1)));
        assert_eq!(
            v.reason,
            format!("{line}; 40 of 40 requests failed; no threshold allows failed requests")
        );
    }

    #[test]
    fn a_healthy_run_passes_with_or_without_thresholds() {
        let rows = [row("GET", "/a", 10, 0)];
        let v = decide(&[], &[], &rows, 1, None, vec![]);
        assert_eq!((v.passed, v.exit_code), (true, Some(0)));
        assert_eq!(
            v.reason,
            "no request failed (10 requests; no thresholds set)"
        );
        let v = decide(
            &[t("p95<200ms")],
            &[result("p95<200ms", true)],
            &rows,
            1,
            None,
            vec![],
        );
        assert_eq!(v.reason, "all 1 threshold passed");
    }

    #[test]
    fn an_error_threshold_allows_the_failures_of_the_rows_it_covers_only() {
        let rows = [row("GET", "/a", 10, 2), row("GET", "/b", 10, 1)];
        let all = [t("error_rate<50%")];
        let v = decide(
            &all,
            &[result("error_rate<50%", true)],
            &rows,
            1,
            None,
            vec![],
        );
        assert!(v.passed, "{}", v.reason);
        assert_eq!(v.unallowed_failures, 0);
        let only_a = [t("GET /a: error_rate<50%")];
        let v = decide(&only_a, &[result("x", true)], &rows, 1, None, vec![]);
        assert!(!v.passed);
        assert_eq!(v.unallowed_failures, 1);
        assert!(
            v.reason
                .starts_with("1 of 20 requests failed outside any error threshold (2 more")
                && v.reason.contains("no error threshold covers their rows"),
            "{}",
            v.reason
        );
        // A latency threshold allows no failure.
        let p95 = [t("p95<200ms")];
        let v = decide(&p95, &[result("p95<200ms", true)], &rows, 1, None, vec![]);
        assert_eq!((v.passed, v.unallowed_failures), (false, 3));
    }

    #[test]
    fn a_failed_threshold_outranks_failed_requests_and_both_are_said() {
        let rows = [row("GET", "/a", 10, 4)];
        let v = decide(
            &[t("p95<200ms")],
            &[result("p95<200ms", false)],
            &rows,
            9,
            None,
            vec![],
        );
        assert_eq!((v.passed, v.exit_code), (false, Some(1)));
        assert_eq!(v.failed, vec!["p95<200ms: measured 300ms"]);
        assert_eq!(
            v.reason,
            "1 of 1 threshold failed; 4 of 10 requests failed; no threshold allows failed requests"
        );
        let v = decide(
            &[t("p95<200ms")],
            &[result("p95<200ms", false)],
            &rows,
            0,
            None,
            vec![],
        );
        assert_eq!(v.reason, "1 of 1 threshold failed");
    }
}
