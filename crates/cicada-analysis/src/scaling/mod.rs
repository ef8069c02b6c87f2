//! Auto-scaling validation: probes that read the replica or worker count once a second
//! ([`probe`]) and named pass / fail checks over the timeline of load, replicas, P95 and errors
//! ([`checks`]). [`timeline`] lines the probe's readings up with the run's seconds.

pub mod checks;
pub mod probe;

pub use checks::{Phases, ScalingLimits, evaluate, names, phases};
pub use probe::{
    CommandProbe, JsonPointerProbe, ProbeError, ProbeRecorder, ProbeSpecError, PromProbe,
    ScalingProbe, parse_probe,
};

use cicada_report::analysis_model::ScalingPoint;
use cicada_report::model::RunReport;

use crate::findings::timeline::load_series;

/// One point per second of the run: the load, P95 and errors from the report's timeline, and
/// the probe reading taken in that second (the last one at or before its end, at most 1.5 s old).
pub fn timeline(report: &RunReport, readings: &[(f64, Option<f64>)]) -> Vec<ScalingPoint> {
    let load = load_series(report);
    report
        .timeline
        .iter()
        .zip(load)
        .map(|(s, (t, l))| {
            let replicas = readings
                .iter()
                .rfind(|(rt, _)| *rt <= t + 1e-9 && *rt > t - 1.5)
                .and_then(|r| r.1);
            ScalingPoint {
                elapsed_s: t,
                load: l,
                replicas,
                p95_ms: s.percentiles.p95,
                errors: s.failures,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::test_support::{ReportBuilder, Second};

    #[test]
    fn readings_line_up_with_seconds() {
        let report = ReportBuilder::ramp_and_hold(5, 10.0).build(|t, u| Second {
            rps: u,
            p95_ms: t as f64,
            failures: t,
            ..Second::default()
        });
        let readings = [
            (0.9, Some(1.0)),
            (2.0, Some(2.0)),
            (2.5, None),
            (4.2, Some(4.0)),
        ];
        let points = timeline(&report, &readings);
        let replicas: Vec<_> = points.iter().map(|p| p.replicas).collect();
        // t = 3 and t = 4: the newest reading within 1.5 s (at 2.5 s) failed.
        assert_eq!(replicas, [Some(1.0), Some(2.0), None, None, Some(4.0)]);
        assert_eq!(points[2].p95_ms, 3.0);
        assert_eq!(points[2].errors, 3);
        assert_eq!(points[4].load, 5.0);
    }
}
