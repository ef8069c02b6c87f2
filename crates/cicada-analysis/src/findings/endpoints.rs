//! Slowest endpoints: by share of all request time, and by how much their P95 grows from low to
//! high load.

use std::collections::BTreeMap;

use cicada_report::analysis_model::{Finding, FindingKind, TimeWindow};
use cicada_report::model::is_flow_method;

use super::timeline::load_series;
use super::timeline::load_unit;
use super::{FindingsConfig, FindingsInput, ev, num, severity};

fn row_label(method: &str, name: &str) -> String {
    if method.is_empty() || name.starts_with(method) {
        name.to_owned()
    } else {
        format!("{method} {name}")
    }
}

/// The endpoints taking the largest share of all request time (requests × mean latency).
/// Information by itself: some endpoint always has the largest share. It is a warning only
/// when that endpoint also missed a latency threshold or slows down with load
/// ([`severity::slow_endpoint`]).
pub fn slowest_endpoints(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    // Flow rows (GROUP, UNTIL, FOREACH) time requests that have rows of their own.
    let rows: Vec<_> = input
        .report
        .requests
        .iter()
        .filter(|r| !is_flow_method(&r.method))
        .collect();
    if rows.len() < 2 {
        return None;
    }
    let time = |r: &cicada_report::model::RequestStats| r.requests as f64 * r.mean_ms;
    let total: f64 = rows.iter().copied().map(time).sum();
    if total <= 0.0 {
        return None;
    }
    let mut shares: Vec<(String, f64, f64, u64)> = rows
        .iter()
        .map(|r| {
            (
                row_label(&r.method, &r.name),
                time(r) / total,
                r.mean_ms,
                r.requests,
            )
        })
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top = &shares[0];
    if top.1 < cfg.slow_share {
        return None;
    }
    let report = input.report;
    let slo_missed = severity::endpoint_slo_missed(report, &top.0)
        || (severity::latency_slo_missed(report) && top.1 >= severity::WARNING_SHARE);
    let grown = grown_endpoints(input, cfg);
    let degrades = grown.iter().find(|g| g.0 == top.0);
    let severity = severity::slow_endpoint(top.1, slo_missed, degrades.is_some());
    let listed: Vec<_> = shares.iter().take(3).filter(|s| s.1 >= 0.05).collect();
    let mut why = Vec::new();
    if slo_missed {
        why.push("the run missed a latency threshold".to_owned());
    }
    if let Some(g) = degrades {
        why.push(format!(
            "its P95 grows {}× from low to high load ({} → {} ms)",
            num(g.3, 1),
            num(g.1, 1),
            num(g.2, 1)
        ));
    }
    let next_step = if why.is_empty() {
        format!(
            "Nothing to do for this alone: {} is where most request time goes, but it met the \
             thresholds and does not slow down with load. Start with it only when it must get \
             faster.",
            top.0
        )
    } else {
        format!(
            "Start optimising with {}: it is where the time goes and {}. Look at its handler's \
             work (queries, hashing, serialisation) in its Server-Timing breakdown.",
            top.0,
            why.join(", and ")
        )
    };
    Some(Finding {
        kind: FindingKind::SlowEndpoint,
        severity,
        score: 100.0 + top.1 * 100.0,
        title: format!(
            "{} takes {} % of all request time",
            top.0,
            num(top.1 * 100.0, 0)
        ),
        summary: format!(
            "Share of total request time (requests × mean latency): {}.",
            listed
                .iter()
                .map(|s| format!(
                    "{} {} % ({} requests, mean {} ms)",
                    s.0,
                    num(s.1 * 100.0, 0),
                    s.3,
                    num(s.2, 1)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        evidence: listed
            .iter()
            .map(|s| {
                ev(
                    &format!("{} share of request time", s.0),
                    s.1 * 100.0,
                    "%",
                    None,
                )
            })
            .collect(),
        window: None,
        next_step,
    })
}

/// An endpoint that slows down with load: (label, P95 at low load ms, at high load ms, factor).
pub type Grown = (String, f64, f64, f64);

/// Endpoints whose P95 grew at least `cfg.latency_growth_factor` times (and by 5 ms) from low
/// to high load, most grown first: (label, low P95 ms, high P95 ms, factor), and the window
/// from the first low-load to the last high-load second.
fn grown_with_window(
    input: &FindingsInput<'_>,
    cfg: &FindingsConfig,
) -> Option<(Vec<Grown>, TimeWindow, f64)> {
    let report = input.report;
    let load = load_series(report);
    let peak = load.iter().map(|l| l.1).fold(0.0, f64::max);
    if peak <= 0.0 {
        return None;
    }
    // name → (low: Σ p95·n, Σ n, high: Σ p95·n, Σ n)
    let mut acc: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    let (mut low_s, mut high_s) = (Vec::new(), Vec::new());
    for (s, (t, l)) in report.timeline.iter().zip(&load) {
        let band = if *l > 0.0 && *l <= 0.5 * peak {
            low_s.push(*t);
            0
        } else if *l >= 0.9 * peak {
            high_s.push(*t);
            2
        } else {
            continue;
        };
        for r in s
            .by_request
            .iter()
            .filter(|r| r.requests > 0 && !is_flow_method(&r.method))
        {
            let e = acc.entry(row_label(&r.method, &r.name)).or_default();
            e[band] += r.p95_ms * r.requests as f64;
            e[band + 1] += r.requests as f64;
        }
    }
    if low_s.len() < 3 || high_s.len() < 3 {
        return None;
    }
    let mut grown: Vec<Grown> = acc
        .into_iter()
        .filter(|(_, a)| a[1] > 0.0 && a[3] > 0.0)
        .map(|(name, a)| {
            let (lo, hi) = (a[0] / a[1], a[2] / a[3]);
            (name, lo, hi, hi / lo.max(1e-9))
        })
        .filter(|g| g.3 >= cfg.latency_growth_factor && g.2 - g.1 >= 5.0)
        .collect();
    grown.sort_by(|a, b| b.3.total_cmp(&a.3));
    let first = low_s.iter().copied().fold(f64::MAX, f64::min) - 1.0;
    let last = high_s.iter().copied().fold(0.0, f64::max);
    Some((grown, TimeWindow::new(first.max(0.0), last), peak))
}

/// The endpoints that slow down with load (see [`latency_growth`]).
pub fn grown_endpoints(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Vec<Grown> {
    grown_with_window(input, cfg).map_or_else(Vec::new, |g| g.0)
}

/// Endpoints whose P95 grows the most from low load (≤ 50 % of the peak) to high load
/// (≥ 90 % of the peak).
pub fn latency_growth(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let (mut grown, window, peak) = grown_with_window(input, cfg)?;
    if grown.is_empty() {
        return None;
    }
    grown.truncate(3);
    let unit = load_unit(input.report);
    let top = &grown[0];
    Some(Finding {
        kind: FindingKind::LatencyGrowth,
        severity: severity::latency_growth(severity::latency_slo_missed(input.report)),
        score: 150.0 + top.3.min(50.0),
        title: format!("{} slows down {}× under load", top.0, num(top.3, 1)),
        summary: format!(
            "P95 from low load (≤ {} {unit}) to high load (≥ {} {unit}): {}.",
            num(0.5 * peak, 1),
            num(0.9 * peak, 1),
            grown
                .iter()
                .map(|g| format!(
                    "{} {} → {} ms ({}×)",
                    g.0,
                    num(g.1, 1),
                    num(g.2, 1),
                    num(g.3, 1)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        evidence: grown
            .iter()
            .flat_map(|g| {
                [
                    ev(&format!("{} P95 at low load", g.0), g.1, "ms", Some(window)),
                    ev(
                        &format!("{} P95 at high load", g.0),
                        g.2,
                        "ms",
                        Some(window),
                    ),
                ]
            })
            .collect(),
        window: Some(window),
        next_step: format!(
            "{} degrades most with load: it likely waits on a shared resource (a lock, the \
             database, a pool). Compare its Server-Timing breakdown at low and high load.",
            top.0
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn report(slow_grows: bool) -> cicada_report::RunReport {
        ReportBuilder::steps(&[(20, 10.0), (20, 60.0), (20, 100.0)]).build(move |_, u| {
            let slow = if slow_grows { 50.0 * u / 10.0 } else { 50.0 };
            Second {
                rps: 0.0,
                p95_ms: slow,
                by_request: vec![("GET /fast", 900, 5.0), ("GET /search", 100, slow)],
                ..Second::default()
            }
        })
    }

    #[test]
    fn the_endpoint_with_most_time_is_named() {
        let report = report(false);
        let f = slowest_endpoints(&FindingsInput::new(&report), &FindingsConfig::default())
            .expect("finding");
        // /search: 100 × 25 ms = 2500; /fast: 900 × 2.5 ms = 2250 → 53 %.
        assert_eq!(f.title, "GET /search takes 53 % of all request time");
        assert!(f.summary.contains("GET /fast 47 %"), "{}", f.summary);
    }

    #[test]
    fn an_even_spread_or_a_single_endpoint_names_none() {
        let even = ReportBuilder::ramp_and_hold(30, 10.0).build(|_, _| Second {
            by_request: vec![
                ("a", 10, 10.0),
                ("b", 10, 10.0),
                ("c", 10, 10.0),
                ("d", 10, 10.0),
                ("e", 10, 10.0),
            ],
            ..Second::default()
        });
        assert!(
            slowest_endpoints(&FindingsInput::new(&even), &FindingsConfig::default()).is_none()
        );
        let single = ReportBuilder::ramp_and_hold(30, 10.0).build(|_, u| Second {
            rps: u,
            p95_ms: 10.0,
            ..Second::default()
        });
        assert!(
            slowest_endpoints(&FindingsInput::new(&single), &FindingsConfig::default()).is_none()
        );
    }

    #[test]
    fn latency_growth_with_load_is_found_for_the_growing_endpoint_only() {
        let report = report(true);
        let f = latency_growth(&FindingsInput::new(&report), &FindingsConfig::default())
            .expect("finding");
        assert_eq!(f.title, "GET /search slows down 10× under load");
        assert!(
            f.summary.contains("GET /search 50 → 500 ms (10×)"),
            "{}",
            f.summary
        );
        assert!(!f.summary.contains("/fast"));
        assert_eq!(f.window, Some(TimeWindow::new(0.0, 60.0)));
        let flat = super::tests::report(false);
        assert!(latency_growth(&FindingsInput::new(&flat), &FindingsConfig::default()).is_none());
    }
}
