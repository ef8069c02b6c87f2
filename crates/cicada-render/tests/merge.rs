//! Merging real reports (`data/dryad_run.json`: `cicada run` against a seeded DRYAD, 100 users,
//! 60 s, written before reports carried per-second histograms): counts add, percentiles come
//! from the added histograms, per-second bounds are declared, and the result is a valid report.

mod common;

use cicada_report::histogram::{decode, percentiles};
use cicada_report::merge::{Input, MergeOptions, merge};
use cicada_report::model::RunReport;

const HEALTHY: &str = include_str!("data/dryad_run.json");
const ANALYSED: &str = include_str!("data/dryad_analysed.json");

fn input(source: &str, text: &str) -> Input {
    Input {
        source: source.into(),
        report: RunReport::from_json(text).unwrap(),
    }
}

#[test]
fn two_real_reports_merge_exactly_and_the_result_is_a_valid_report() {
    let (a, b) = (input("a.json", HEALTHY), input("b.json", ANALYSED));
    let merged = merge(
        &[a.clone(), b.clone()],
        &MergeOptions {
            force: true,
            ..MergeOptions::default()
        },
    )
    .unwrap();
    let m = &merged.report;
    let (ra, rb) = (&a.report, &b.report);
    assert_eq!(
        m.aggregated.requests,
        ra.aggregated.requests + rb.aggregated.requests
    );
    assert_eq!(
        m.aggregated.failures,
        ra.aggregated.failures + rb.aggregated.failures
    );
    let mut union = decode(ra.aggregated.histogram.as_ref().unwrap()).unwrap();
    union
        .add(decode(rb.aggregated.histogram.as_ref().unwrap()).unwrap())
        .unwrap();
    assert_eq!(m.aggregated.percentiles, percentiles(&union));
    for (row, hist) in m.requests.iter().zip(&merged.row_histograms) {
        let same = |r: &RunReport| {
            r.requests
                .iter()
                .filter(|x| {
                    (&x.user_type, &x.method, &x.name) == (&row.user_type, &row.method, &row.name)
                })
                .map(|x| x.requests)
                .sum::<u64>()
        };
        assert_eq!(row.requests, same(ra) + same(rb), "{}", row.name);
        assert_eq!(hist.len(), row.requests, "{}", row.name);
        assert_eq!(row.percentiles, percentiles(hist), "{}", row.name);
    }
    // Server-Timing sums add.
    let st = |r: &RunReport| {
        r.aggregated
            .server_timing
            .as_ref()
            .map_or(0, |s| s.responses)
    };
    assert_eq!(st(m), st(ra) + st(rb));
    // The runs were 40 minutes apart: the timeline is the union of their seconds.
    let seconds: std::collections::BTreeSet<u64> = ra
        .timeline
        .iter()
        .chain(&rb.timeline)
        .map(|s| s.unix_time)
        .collect();
    let merged_seconds: Vec<u64> = m.timeline.iter().map(|s| s.unix_time).collect();
    assert_eq!(merged_seconds, seconds.into_iter().collect::<Vec<_>>());
    assert_eq!(
        m.timeline.last().unwrap().total_requests,
        m.aggregated.requests
    );
    assert_eq!(m.run.started_at, ra.run.started_at);
    assert_eq!(m.run.ended_at, rb.run.ended_at);
    let info = m.merged.as_ref().unwrap();
    assert_eq!(info.reports, 2);
    assert_eq!(info.workers[1].source, "b.json");
    // The analysed run's resources are one machine's: not carried into the merge.
    assert!(m.analysis.is_none());
    // Valid against the committed schema, and it renders.
    let json: serde_json::Value = serde_json::from_str(&m.to_json_pretty()).unwrap();
    let errors: Vec<String> = common::schema_validator()
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let page = cicada_render::html::render_html(m);
    assert!(page.contains("Merged from") && page.contains("b.json"));
}

#[test]
fn the_same_report_twice_keeps_every_percentile_and_declares_the_shared_seconds() {
    let a = input("a.json", HEALTHY);
    let merged = merge(&[a.clone(), a.clone()], &MergeOptions::default()).unwrap();
    let (m, r) = (&merged.report, &a.report);
    // A histogram added to itself has the same quantiles: exact merging shows it.
    assert_eq!(m.aggregated.percentiles, r.aggregated.percentiles);
    assert_eq!(m.aggregated.requests, 2 * r.aggregated.requests);
    for (x, y) in m.requests.iter().zip(&r.requests) {
        assert_eq!((x.requests, x.percentiles), (2 * y.requests, y.percentiles));
    }
    let fails = |r: &RunReport| r.failures.iter().map(|f| f.occurrences).sum::<u64>();
    assert_eq!(fails(m), 2 * fails(r));
    assert_eq!(m.failures.len(), r.failures.len());
    // Every second is shared and the old report has no per-second histograms: bounds, declared.
    assert_eq!(m.timeline.len(), r.timeline.len());
    assert_eq!(m.timeline[10].requests, 2 * r.timeline[10].requests);
    assert_eq!(m.timeline[10].users, 2 * r.timeline[10].users);
    let info = m.merged.as_ref().unwrap();
    assert!(
        info.approximations
            .iter()
            .any(|l| l.contains("per-second percentiles of")),
        "{:?}",
        info.approximations
    );
    assert!(m.timeline.iter().all(|s| s.cumulative.is_none()));
    assert!(m.verdict.warnings.iter().any(|w| w.contains("not exact")));
    // Thresholds are carried for the caller to judge.
    assert_eq!(m.thresholds.len(), r.thresholds.len());
    assert!(m.thresholds.iter().all(|t| t.observed.is_none()));
}

#[test]
fn one_report_is_the_identity() {
    let a = input("a.json", HEALTHY);
    let m = merge(std::slice::from_ref(&a), &MergeOptions::default())
        .unwrap()
        .report;
    let r = &a.report;
    assert_eq!(m.requests, r.requests);
    assert_eq!(m.aggregated, r.aggregated);
    assert_eq!(m.failures, r.failures);
    assert_eq!(m.run.duration_s, r.run.duration_s);
    assert!(m.merged.unwrap().approximations.is_empty());
    for (x, y) in m.timeline.iter().zip(&r.timeline) {
        assert_eq!(
            (x.unix_time, x.requests, x.users, x.percentiles),
            (y.unix_time, y.requests, y.users, y.percentiles)
        );
    }
}

#[test]
fn different_scenarios_are_refused_unless_forced() {
    let a = input("a.json", HEALTHY);
    let mut b = input("b.json", HEALTHY);
    b.report.run.scenario = "other".into();
    let err = merge(&[a.clone(), b.clone()], &MergeOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("b.json: scenario \"other\""),
        "{err}"
    );
    assert!(
        merge(
            &[a, b],
            &MergeOptions {
                force: true,
                ..MergeOptions::default()
            }
        )
        .is_ok()
    );
}

#[test]
fn status_codes_and_checks_add_exactly() {
    use cicada_report::model::{CheckStats, StatusCodes};
    // The real report predates the fields: give each worker its own codes and checks.
    let with = |source: &str, codes: &[(u16, u64)], checks: (u64, u64)| {
        let mut i = input(source, HEALTHY);
        let r = &mut i.report;
        let mut all = StatusCodes::default();
        for row in &mut r.requests {
            row.status_codes = StatusCodes::default();
            for &(code, n) in codes {
                row.status_codes.add(code, n);
            }
            row.checks = CheckStats::some(checks.0, checks.1);
            all.merge(&row.status_codes);
        }
        r.aggregated.status_codes = all;
        let rows = r.requests.len() as u64;
        r.aggregated.checks = CheckStats::some(checks.0 * rows, checks.1 * rows);
        i
    };
    let a = with("a.json", &[(200, 90), (503, 10)], (90, 88));
    let b = with("b.json", &[(0, 4), (201, 5), (200, 1)], (6, 6));
    let m = merge(&[a.clone(), b], &MergeOptions::default())
        .unwrap()
        .report;
    let rows = a.report.requests.len() as u64;
    let codes: Vec<(u16, u64)> = m
        .aggregated
        .status_codes
        .codes
        .iter()
        .map(|c| (c.status, c.count))
        .collect();
    assert_eq!(codes, [(200, 91 * rows), (201, 5 * rows), (503, 10 * rows)]);
    assert_eq!(m.aggregated.status_codes.no_response, 4 * rows);
    assert_eq!(
        m.aggregated.checks,
        Some(CheckStats {
            evaluated: 96 * rows,
            passed: 94 * rows
        })
    );
    for row in &m.requests {
        assert_eq!(row.status_codes.total(), 110, "{}", row.name);
        assert_eq!(row.checks.unwrap().evaluated, 96, "{}", row.name);
    }
}
