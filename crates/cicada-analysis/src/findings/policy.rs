//! The ranking policy, in one place: which finding a reader sees first.
//!
//! 1. Verdicts on the run itself come first when they matter (warning or critical): a
//!    saturated generator, other processes taking the machine's CPU, a target that restarted,
//!    planned iterations not sent (the concurrency cap reached).
//!    Every other finding is measured through them, so they are read before any bottleneck.
//! 2. Then by severity (what users felt: time and requests affected, thresholds failed).
//! 3. Then by the rule's score (how strong the evidence is), then by kind (a stable order).
//! 4. "No bottleneck" is only ever added when nothing else is a warning or critical, last.
//! 5. One finding per kind ([`merge_same_kind`]): a cause two rules see is said once, with
//!    the evidence of both.

use std::cmp::Ordering;

use cicada_report::analysis_model::{Finding, FindingKind, Severity, TimeWindow};

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

/// One finding per kind: when two rules name the same cause (a connection pool seen in the
/// scraped `/metrics` gauges and in the `Server-Timing` waits), the reader gets one finding
/// with both evidences, not the same headline twice. The most severe (then highest-scored)
/// one leads; the other's evidence (labels it lacks) and summary are added, and the window
/// spans both.
pub fn merge_same_kind(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        let Some(i) = out.iter().position(|o| o.kind == f.kind) else {
            out.push(f);
            continue;
        };
        let (mut lead, other) = if order_within_kind(&f, &out[i]) == Ordering::Less {
            (f, out.swap_remove(i))
        } else {
            (out.swap_remove(i), f)
        };
        for e in other.evidence {
            if !lead.evidence.iter().any(|l| l.label == e.label) {
                lead.evidence.push(e);
            }
        }
        if !other.summary.is_empty() && !lead.summary.contains(&other.summary) {
            lead.summary = format!("{} {}", lead.summary, other.summary);
        }
        lead.window = match (lead.window, other.window) {
            (Some(a), Some(b)) => Some(TimeWindow::new(
                a.start_s.min(b.start_s),
                a.end_s.max(b.end_s),
            )),
            (a, b) => a.or(b),
        };
        lead.score = lead.score.max(other.score);
        out.push(lead);
    }
    out
}

/// Of two findings of one kind, the one that leads a merge is `Less`.
fn order_within_kind(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then(b.score.total_cmp(&a.score))
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
    fn one_pool_named_from_gauges_and_from_waits_is_one_finding_with_both_evidences() {
        let ev = |label: &str, unit: &str| cicada_report::analysis_model::Evidence {
            label: label.into(),
            value: 1.0,
            unit: unit.into(),
            window: None,
        };
        let mut gauges = f(
            FindingKind::ConnectionPoolSaturated,
            Severity::Warning,
            420.0,
        );
        gauges.summary = "Every connection was in use in 8 s.".into();
        gauges.evidence = vec![ev("seconds with every connection in use", "s")];
        gauges.window = Some(TimeWindow::new(2.0, 9.0));
        let mut waits = f(
            FindingKind::ConnectionPoolSaturated,
            Severity::Critical,
            430.0,
        );
        waits.title = "The database connection pool is saturated".into();
        waits.summary = "Acquiring a connection took up to 40 ms.".into();
        waits.evidence = vec![
            ev("pool wait, share of response time", "%"),
            ev("seconds with every connection in use", "s"),
        ];
        waits.window = Some(TimeWindow::new(1.0, 8.0));
        let other = f(FindingKind::DatabaseBound, Severity::Info, 300.0);
        let merged = merge_same_kind(vec![gauges, other, waits]);
        assert_eq!(merged.len(), 2);
        let pool = merged
            .iter()
            .find(|m| m.kind == FindingKind::ConnectionPoolSaturated)
            .unwrap();
        // The most severe leads; the other's evidence and words are added once.
        assert_eq!(pool.severity, Severity::Critical);
        assert_eq!(pool.title, "The database connection pool is saturated");
        let labels: Vec<_> = pool.evidence.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "pool wait, share of response time",
                "seconds with every connection in use"
            ]
        );
        assert_eq!(
            pool.summary,
            "Acquiring a connection took up to 40 ms. Every connection was in use in 8 s."
        );
        assert_eq!(pool.window, Some(TimeWindow::new(1.0, 9.0)));
        assert_eq!(pool.score, 430.0);
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
