//! The ranking policy, in one place: which finding a reader sees first.
//!
//! 1. Verdicts on the run itself come first when they matter (warning or critical): a
//!    saturated generator, other processes taking the machine's CPU, a target that restarted,
//!    planned iterations not sent (the concurrency cap reached).
//!    Every other finding is measured through them, so they are read before any bottleneck.
//! 2. Then by severity (what users felt: time and requests affected, thresholds failed).
//! 3. Then by the rule's score (how strong the evidence is), then by kind (a stable order).
//! 4. "No bottleneck" is only ever added when nothing else is a warning or critical, last.

use std::cmp::Ordering;

use cicada_report::analysis_model::{Finding, FindingKind, Severity};

/// Whether the finding says the run's numbers cannot be taken at face value.
pub fn questions_the_run(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::GeneratorSaturated
            | FindingKind::NoisyNeighbours
            | FindingKind::TargetRestarted
    )
}

fn class(f: &Finding) -> u8 {
    if f.kind == FindingKind::NoBottleneck {
        0
    } else if questions_the_run(f.kind) && f.severity >= Severity::Warning {
        2
    } else {
        1
    }
}

/// The order of two findings: the one to read first is `Less`.
pub fn order(a: &Finding, b: &Finding) -> Ordering {
    class(b)
        .cmp(&class(a))
        .then(b.severity.cmp(&a.severity))
        .then(b.score.total_cmp(&a.score))
        .then(a.kind.cmp(&b.kind))
}

/// Sort `findings` into reading order.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by(order);
}

/// The first warning or critical finding, which the run's diagnosis is.
pub fn top(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().find(|f| f.severity >= Severity::Warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: FindingKind, severity: Severity, score: f64) -> Finding {
        Finding {
            kind,
            severity,
            score,
            title: String::new(),
            summary: String::new(),
            evidence: vec![],
            window: None,
            next_step: String::new(),
        }
    }

    #[test]
    fn run_verdicts_come_first_then_severity_then_score() {
        let mut all = vec![
            f(FindingKind::SlowEndpoint, Severity::Info, 199.0),
            f(FindingKind::DatabaseBound, Severity::Critical, 480.0),
            f(FindingKind::NoisyNeighbours, Severity::Warning, 10.0),
            f(FindingKind::ErrorOnset, Severity::Critical, 390.0),
            f(FindingKind::MemoryGrowth, Severity::Warning, 900.0),
            // Information about the run's trust does not jump ahead.
            f(FindingKind::GeneratorSaturated, Severity::Info, 2000.0),
        ];
        rank(&mut all);
        let kinds: Vec<_> = all.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::NoisyNeighbours,
                FindingKind::DatabaseBound,
                FindingKind::ErrorOnset,
                FindingKind::MemoryGrowth,
                FindingKind::GeneratorSaturated,
                FindingKind::SlowEndpoint,
            ]
        );
        assert_eq!(
            top(&all).map(|f| f.kind),
            Some(FindingKind::NoisyNeighbours)
        );
        let quiet = [f(FindingKind::SlowEndpoint, Severity::Info, 1.0)];
        assert!(top(&quiet).is_none());
    }

    #[test]
    fn no_bottleneck_is_last() {
        let mut all = vec![
            f(FindingKind::NoBottleneck, Severity::Info, 1e9),
            f(FindingKind::SlowEndpoint, Severity::Info, 1.0),
        ];
        rank(&mut all);
        assert_eq!(all[1].kind, FindingKind::NoBottleneck);
    }
}
