//! Severity in proportion to what users feel.
//!
//! A bottleneck's severity follows the share of response time it accounts for (the time
//! requests waited for a database connection, or spent in the database): at least
//! [`CRITICAL_SHARE`] is critical, at least [`WARNING_SHARE`] a warning, less is information.
//! When the run missed a latency threshold (its SLO), a bottleneck that accounts for at least
//! [`SLO_RAISE_SHARE`] of response time is raised one level: it is part of why the SLO failed.
//! So a 2 ms pool wait inside 40 ms responses (5 %) is information, not critical.

use cicada_report::RunReport;
use cicada_report::analysis_model::Severity;

/// Share of response time from which a bottleneck is critical.
pub const CRITICAL_SHARE: f64 = 0.5;
/// Share of response time from which a bottleneck is a warning.
pub const WARNING_SHARE: f64 = 0.2;
/// With a missed latency threshold, a bottleneck of at least this share is raised one level.
pub const SLO_RAISE_SHARE: f64 = 0.1;
/// Error ratio from which errors are critical.
pub const CRITICAL_ERROR_RATIO: f64 = 0.01;
/// Error ratio from which errors are a warning (below: information).
pub const WARNING_ERROR_RATIO: f64 = 0.001;

/// Severity of a bottleneck that accounts for `share` (0..=1) of response time.
pub fn from_share(share: f64, slo_missed: bool) -> Severity {
    let base = if share >= CRITICAL_SHARE {
        Severity::Critical
    } else if share >= WARNING_SHARE {
        Severity::Warning
    } else {
        Severity::Info
    };
    if slo_missed && share >= SLO_RAISE_SHARE {
        raise(base)
    } else {
        base
    }
}

/// Severity of failures that are `ratio` (0..=1) of all requests.
pub fn from_error_ratio(ratio: f64) -> Severity {
    if ratio >= CRITICAL_ERROR_RATIO {
        Severity::Critical
    } else if ratio >= WARNING_ERROR_RATIO {
        Severity::Warning
    } else {
        Severity::Info
    }
}

/// Severity of "this endpoint takes the largest share of request time": information by itself
/// (some endpoint always has the largest share). It is a warning only when that endpoint also
/// missed a latency threshold (its own, or the run's while it takes at least
/// [`WARNING_SHARE`] of the time), or its latency grows with load; critical when it missed
/// a threshold and takes at least [`CRITICAL_SHARE`] of all request time.
pub fn slow_endpoint(share: f64, slo_missed: bool, degrades: bool) -> Severity {
    match (slo_missed, degrades) {
        (true, _) if share >= CRITICAL_SHARE => Severity::Critical,
        (true, _) | (false, true) => Severity::Warning,
        (false, false) => Severity::Info,
    }
}

/// Severity of an endpoint slowing down with load: a warning (users wait longer as load
/// grows), critical when the run also missed a latency threshold.
pub fn latency_growth(slo_missed: bool) -> Severity {
    if slo_missed {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// Share (0..=1) of planned open-model iterations dropped from which that is critical.
pub const CRITICAL_DROPPED_SHARE: f64 = 0.1;
/// ... and a warning (below: information).
pub const WARNING_DROPPED_SHARE: f64 = 0.01;

/// Severity of planned iterations not sent (`share` of those planned): the load the run was
/// meant to apply was not.
pub fn from_dropped_share(share: f64) -> Severity {
    if share >= CRITICAL_DROPPED_SHARE {
        Severity::Critical
    } else if share >= WARNING_DROPPED_SHARE {
        Severity::Warning
    } else {
        Severity::Info
    }
}

fn raise(s: Severity) -> Severity {
    match s {
        Severity::Info => Severity::Warning,
        Severity::Warning | Severity::Critical => Severity::Critical,
    }
}

/// Whether a latency threshold scoped to the request row `label` (`"METHOD name"` or `"name"`)
/// failed.
pub fn endpoint_slo_missed(report: &RunReport, label: &str) -> bool {
    report.thresholds.iter().any(|t| {
        !t.passed
            && t.unit == "ms"
            && t.scope
                .as_deref()
                .is_some_and(|s| s == label || label.ends_with(&format!(" {s}")))
    })
}

/// Whether a latency threshold (a percentile, mean, min or max in ms) of the run failed.
pub fn latency_slo_missed(report: &RunReport) -> bool {
    report
        .thresholds
        .iter()
        .any(|t| !t.passed && t.unit == "ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_boundaries() {
        assert_eq!(from_share(0.0, false), Severity::Info);
        assert_eq!(from_share(0.199_999, false), Severity::Info);
        assert_eq!(from_share(0.2, false), Severity::Warning);
        assert_eq!(from_share(0.499_999, false), Severity::Warning);
        assert_eq!(from_share(0.5, false), Severity::Critical);
        assert_eq!(from_share(1.0, false), Severity::Critical);
        // 2 ms of pool wait in 40 ms responses.
        assert_eq!(from_share(2.0 / 40.0, false), Severity::Info);
    }

    #[test]
    fn a_missed_slo_raises_a_bottleneck_that_matters() {
        assert_eq!(from_share(0.099_999, true), Severity::Info);
        assert_eq!(from_share(0.1, true), Severity::Warning);
        assert_eq!(from_share(0.2, true), Severity::Critical);
        assert_eq!(from_share(0.6, true), Severity::Critical);
    }

    #[test]
    fn a_large_share_alone_is_information() {
        assert_eq!(slow_endpoint(0.86, false, false), Severity::Info);
        assert_eq!(slow_endpoint(0.86, false, true), Severity::Warning);
        assert_eq!(slow_endpoint(0.3, true, false), Severity::Warning);
        assert_eq!(slow_endpoint(0.5, true, false), Severity::Critical);
    }

    #[test]
    fn error_ratio_boundaries() {
        assert_eq!(from_error_ratio(0.0), Severity::Info);
        assert_eq!(from_error_ratio(0.000_999), Severity::Info);
        assert_eq!(from_error_ratio(0.001), Severity::Warning);
        assert_eq!(from_error_ratio(0.009_99), Severity::Warning);
        assert_eq!(from_error_ratio(0.01), Severity::Critical);
    }

    #[test]
    fn only_failed_latency_thresholds_count() {
        use crate::findings::test_support::{ReportBuilder, Second};
        use cicada_report::model::ThresholdResult;
        let mut report = ReportBuilder::ramp_and_hold(3, 1.0).build(|_, _| Second::default());
        let threshold = |unit: &str, passed: bool| ThresholdResult {
            expression: "x".into(),
            scope: None,
            metric: "p95".into(),
            op: "<".into(),
            limit: 1.0,
            observed: Some(2.0),
            unit: unit.into(),
            passed,
            source: "cli".into(),
        };
        report.thresholds = vec![threshold("ms", true), threshold("%", false)];
        assert!(!latency_slo_missed(&report));
        report.thresholds.push(threshold("ms", false));
        assert!(latency_slo_missed(&report));
    }
}
