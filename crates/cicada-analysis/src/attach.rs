//! The one call the engine makes at the end of a run: put everything the analysis collected
//! into the report, run the bottleneck rules, and add the generator verdict to the warnings.

use cicada_report::RunReport;
use cicada_report::analysis_model::{
    Analysis, CapacityResult, ResourceSeries, ScalingReport, ScrapedMetrics, SeriesPoint,
};

use crate::findings::{FindingsConfig, FindingsInput, analyze};

/// What the run collected besides the report itself. Every part is optional.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// From [`crate::resources::ResourceSampler::finish`].
    pub resources: Option<ResourceSeries>,
    /// From [`crate::prom::Scraper::finish`].
    pub scraped: Option<ScrapedMetrics>,
    /// Share (0..=1) of response time spent in the database per second. Empty: taken from
    /// the report's `Server-Timing` figures ([`crate::server_timing::db_share_series`]).
    pub db_share: Vec<SeriesPoint>,
    /// From [`crate::capacity::CapacitySearch::result`].
    pub capacity: Option<CapacityResult>,
    /// From [`crate::scaling::evaluate`].
    pub scaling: Option<ScalingReport>,
}

/// Fill `report.analysis`, ranking findings with `config`. When the generator could not keep
/// up, its verdict is also added to `report.verdict.warnings` (once), so every output shows it.
pub fn attach_analysis(report: &mut RunReport, collected: Collected, config: &FindingsConfig) {
    let db_share = if collected.db_share.is_empty() {
        crate::server_timing::db_share_series(report)
    } else {
        collected.db_share
    };
    let outcome = {
        let input = FindingsInput {
            report,
            resources: collected.resources.as_ref(),
            scraped: collected.scraped.as_ref(),
            db_share: &db_share,
        };
        analyze(&input, config)
    };
    if !outcome.generator_health.healthy
        && !report
            .verdict
            .warnings
            .contains(&outcome.generator_health.verdict)
    {
        report
            .verdict
            .warnings
            .push(outcome.generator_health.verdict.clone());
    }
    report.analysis = Some(Analysis {
        resources: collected.resources,
        scraped: collected.scraped,
        generator_health: Some(outcome.generator_health),
        findings: outcome.findings,
        capacity: collected.capacity,
        scaling: collected.scaling,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::test_support::*;
    use cicada_report::analysis_model::FindingKind;

    #[test]
    fn attaches_findings_and_warns_once_about_the_generator() {
        let mut report = ReportBuilder::ramp_and_hold(30, 10.0).build(|_, u| Second {
            rps: u * 10.0,
            p95_ms: 5.0,
            ..Second::default()
        });
        let collected = Collected {
            resources: Some(resources_with_target(30, |_| (20.0, 1 << 20), |_| 97.0)),
            ..Collected::default()
        };
        attach_analysis(&mut report, collected.clone(), &FindingsConfig::default());
        attach_analysis(&mut report, collected, &FindingsConfig::default());
        let analysis = report.analysis.as_ref().unwrap();
        assert_eq!(analysis.findings[0].kind, FindingKind::GeneratorSaturated);
        assert!(!analysis.generator_health.as_ref().unwrap().healthy);
        assert!(analysis.resources.is_some());
        assert_eq!(report.verdict.warnings.len(), 1);
        assert!(report.verdict.warnings[0].contains("understate"));
        // The report still round-trips through its JSON form with the analysis in it.
        let back = RunReport::from_json(&report.to_json_pretty()).unwrap();
        assert_eq!(back, report);
    }
}
