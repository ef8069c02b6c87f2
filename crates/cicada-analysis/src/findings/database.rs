//! Database-bound and connection-pool saturation.
//!
//! Database-bound: latency rises while the target's CPU stays below 60 % and the share of
//! response time spent in the database (`Server-Timing: db`) rises; or requests wait for a
//! pool connection while the CPU is not the limit. Pool saturation: the pool acquire wait
//! (p95 of an interval) exceeds its limit, or every connection is in use, for 3 s or more.

use cicada_report::analysis_model::{
    Finding, FindingKind, MetricSeries, SeriesStat, Severity, TimeWindow,
};

use super::timeline::{mean, seconds_to_windows, thirds};
use super::{FindingsConfig, FindingsInput, ev, num};

/// Seconds the pool must be saturated before the rule speaks.
const MIN_POOL_SECONDS: usize = 3;

/// Early vs late P95 of the loaded part of the run.
struct LatencyTrend {
    early_ms: f64,
    late_ms: f64,
    early: TimeWindow,
    late: TimeWindow,
}

fn latency_trend(input: &FindingsInput<'_>) -> Option<LatencyTrend> {
    let loaded: Vec<_> = input
        .report
        .timeline
        .iter()
        .filter(|s| s.requests > 0)
        .collect();
    let (early, late) = thirds(&loaded)?;
    let w = |part: &[&cicada_report::model::IntervalSample]| {
        TimeWindow::new(
            part[0].elapsed_s as f64 - 1.0,
            part[part.len() - 1].elapsed_s as f64,
        )
    };
    Some(LatencyTrend {
        early_ms: mean(early.iter().map(|s| s.percentiles.p95))?,
        late_ms: mean(late.iter().map(|s| s.percentiles.p95))?,
        early: w(early),
        late: w(late),
    })
}

fn mean_in(points: &[cicada_report::analysis_model::SeriesPoint], w: &TimeWindow) -> Option<f64> {
    mean(
        points
            .iter()
            .filter(|p| p.elapsed_s > w.start_s && p.elapsed_s <= w.end_s)
            .map(|p| p.value),
    )
}

fn target_cpu_in(input: &FindingsInput<'_>, w: &TimeWindow) -> Option<f64> {
    let target = input.resources?.target.as_ref()?;
    mean(
        target
            .samples
            .iter()
            .filter(|s| s.elapsed_s > w.start_s && s.elapsed_s <= w.end_s)
            .map(|s| s.cpu_available_pct),
    )
}

/// Seconds in which the pool acquire wait (p95 per interval, else the mean) exceeded the
/// limit, with the worst wait in ms.
fn pool_wait(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<(Vec<u64>, f64, String)> {
    let selector = cfg.metrics.pool_acquire_wait.as_ref();
    let mut series: Vec<&MetricSeries> = input.series(
        selector,
        |s| matches!(s, SeriesStat::Quantile { q } if (*q - 0.95).abs() < 1e-9),
    );
    if series.is_empty() {
        series = input.series(selector, |s| *s == SeriesStat::Mean);
    }
    let mut seconds = Vec::new();
    let mut worst: f64 = 0.0;
    let mut name = String::new();
    for s in series {
        for p in &s.points {
            let ms = p.value * 1000.0;
            if ms > cfg.pool_wait_ms {
                seconds.push(p.elapsed_s.round() as u64);
                if ms > worst {
                    worst = ms;
                    name.clone_from(&s.name);
                }
            }
        }
    }
    seconds.sort_unstable();
    seconds.dedup();
    (!seconds.is_empty()).then_some((seconds, worst, name))
}

/// Seconds in which connections in use reached 95 % of the pool's maximum.
fn pool_full(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Vec<u64> {
    let in_use: Vec<&MetricSeries> = input
        .series(cfg.metrics.pool_in_use.as_ref(), |s| {
            *s == SeriesStat::Gauge
        })
        .into_iter()
        .filter(|s| {
            s.labels
                .get("state")
                .is_none_or(|st| matches!(st.as_str(), "in_use" | "busy" | "active" | "used"))
        })
        .collect();
    let max = input.series(cfg.metrics.pool_max.as_ref(), |s| *s == SeriesStat::Gauge);
    let mut out = Vec::new();
    for u in &in_use {
        // Pair with the max gauge of the same labels, else the only one.
        let Some(m) = max
            .iter()
            .find(|m| m.labels == u.labels)
            .or_else(|| (max.len() == 1).then(|| &max[0]))
        else {
            continue;
        };
        for p in &u.points {
            if let Some(limit) = m.points.iter().find(|q| q.elapsed_s == p.elapsed_s)
                && limit.value > 0.0
                && p.value >= 0.95 * limit.value
            {
                out.push(p.elapsed_s.round() as u64);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub fn database_bound(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let trend = latency_trend(input);
    let whole = input
        .report
        .timeline
        .last()
        .map(|s| TimeWindow::new(0.0, s.elapsed_s as f64))?;
    let cpu_late = trend.as_ref().and_then(|t| target_cpu_in(input, &t.late));
    let cpu_whole = target_cpu_in(input, &whole);
    let mut evidence = Vec::new();
    let mut reasons = Vec::new();
    let mut window = None;

    // Clause 1: latency rising, CPU low, db share rising.
    if let Some(t) = &trend
        && t.late_ms >= cfg.latency_rise_factor * t.early_ms
        && t.late_ms - t.early_ms >= 5.0
        && let Some(cpu) = cpu_late
        && cpu < cfg.target_cpu_low_pct
        && let (Some(db_early), Some(db_late)) = (
            mean_in(input.db_share, &t.early),
            mean_in(input.db_share, &t.late),
        )
        && db_late - db_early >= 0.1
    {
        let w = TimeWindow::new(t.early.start_s, t.late.end_s);
        window = Some(w);
        evidence.push(ev("P95 early", t.early_ms, "ms", Some(t.early)));
        evidence.push(ev("P95 late", t.late_ms, "ms", Some(t.late)));
        evidence.push(ev("target CPU late (mean)", cpu, "%", Some(t.late)));
        evidence.push(ev(
            "database share of time, early",
            db_early * 100.0,
            "%",
            Some(t.early),
        ));
        evidence.push(ev(
            "database share of time, late",
            db_late * 100.0,
            "%",
            Some(t.late),
        ));
        reasons.push(format!(
            "P95 rose from {} to {} ms while the target's CPU stayed at {} % and the database's \
             share of response time rose from {} to {} %",
            num(t.early_ms, 1),
            num(t.late_ms, 1),
            num(cpu, 0),
            num(db_early * 100.0, 0),
            num(db_late * 100.0, 0)
        ));
    }
    // Clause 2: requests waited for a pool connection while the CPU was not the limit.
    if let Some((seconds, worst, name)) = pool_wait(input, cfg)
        && cpu_whole.is_none_or(|c| c < cfg.target_cpu_bound_pct)
    {
        let windows = seconds_to_windows(&seconds);
        let w = TimeWindow::new(windows[0].start_s, windows[windows.len() - 1].end_s);
        window.get_or_insert(w);
        evidence.push(ev(
            &format!("{name} (worst interval)"),
            worst,
            "ms",
            Some(w),
        ));
        reasons.push(format!(
            "requests waited up to {} ms for a database connection ({name}) in {} s",
            num(worst, 1),
            seconds.len()
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    Some(Finding {
        kind: FindingKind::DatabaseBound,
        severity: Severity::Critical,
        score: 450.0 + 10.0 * reasons.len() as f64,
        title: "The target is database-bound".to_owned(),
        summary: format!("{}.", capitalise(&reasons.join("; "))),
        evidence,
        window,
        next_step: "Find the slowest queries under this load (EXPLAIN ANALYZE, the database's \
                    slow-query log), add the missing indexes, batch or cache repeated reads, and \
                    check that the pool size fits the database's connection limit."
            .to_owned(),
    })
}

pub fn pool_saturated(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let wait = pool_wait(input, cfg);
    let full = pool_full(input, cfg);
    let wait_seconds = wait.as_ref().map_or(0, |w| w.0.len());
    if wait_seconds < MIN_POOL_SECONDS && full.len() < MIN_POOL_SECONDS {
        return None;
    }
    let mut all: Vec<u64> = wait
        .as_ref()
        .map(|w| w.0.clone())
        .unwrap_or_default()
        .into_iter()
        .chain(full.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    let windows = seconds_to_windows(&all);
    let w = TimeWindow::new(windows[0].start_s, windows[windows.len() - 1].end_s);
    let mut evidence = Vec::new();
    let mut parts = Vec::new();
    if let Some((seconds, worst, name)) = &wait
        && seconds.len() >= MIN_POOL_SECONDS
    {
        evidence.push(ev(
            &format!("{name} p95 (worst interval)"),
            *worst,
            "ms",
            Some(w),
        ));
        evidence.push(ev(
            "seconds with acquire wait",
            seconds.len() as f64,
            "s",
            Some(w),
        ));
        parts.push(format!(
            "acquiring a connection took up to {} ms (over {} ms in {} s)",
            num(*worst, 1),
            num(cfg.pool_wait_ms, 1),
            seconds.len()
        ));
    }
    if full.len() >= MIN_POOL_SECONDS {
        evidence.push(ev(
            "seconds with every connection in use",
            full.len() as f64,
            "s",
            Some(w),
        ));
        parts.push(format!("every connection was in use in {} s", full.len()));
    }
    Some(Finding {
        kind: FindingKind::ConnectionPoolSaturated,
        severity: Severity::Warning,
        score: 400.0 + all.len() as f64,
        title: "The database connection pool is saturated".to_owned(),
        summary: format!("{}.", capitalise(&parts.join("; "))),
        evidence,
        window: Some(w),
        next_step: "Raise the pool's maximum size if the database has connections to spare; \
                    otherwise shorten what holds a connection (no network calls or long work \
                    inside a transaction) and make the slow queries faster."
            .to_owned(),
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::SeriesPoint;

    fn rising_latency() -> cicada_report::RunReport {
        ReportBuilder::ramp_and_hold(60, 50.0).build(|t, u| Second {
            rps: u * 5.0,
            p95_ms: 20.0 + t as f64 * 2.0,
            ..Second::default()
        })
    }

    fn db_share(rising: bool) -> Vec<SeriesPoint> {
        (1..=60)
            .map(|t| SeriesPoint {
                elapsed_s: t as f64,
                value: if rising {
                    0.2 + 0.6 * t as f64 / 60.0
                } else {
                    0.3
                },
            })
            .collect()
    }

    #[test]
    fn rising_latency_low_cpu_and_rising_db_share_is_database_bound() {
        let report = rising_latency();
        let resources = resources_with_target(60, |_| (35.0, 1 << 20), |_| 10.0);
        let share = db_share(true);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        input.db_share = &share;
        let f = database_bound(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.kind, FindingKind::DatabaseBound);
        assert!(f.summary.contains("CPU stayed at 35 %"), "{}", f.summary);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.label.contains("database share") && e.value > 60.0)
        );
        // No pool metrics: no pool finding.
        assert!(pool_saturated(&input, &FindingsConfig::default()).is_none());
    }

    #[test]
    fn not_database_bound_when_the_cpu_is_busy_or_the_db_share_is_flat() {
        let report = rising_latency();
        let busy = resources_with_target(60, |_| (80.0, 1 << 20), |_| 10.0);
        let calm = resources_with_target(60, |_| (35.0, 1 << 20), |_| 10.0);
        let rising = db_share(true);
        let flat = db_share(false);
        for (resources, share) in [(&busy, &rising), (&calm, &flat)] {
            let mut input = FindingsInput::new(&report);
            input.resources = Some(resources);
            input.db_share = share;
            assert!(database_bound(&input, &FindingsConfig::default()).is_none());
        }
        // Flat latency with a rising share is fine too.
        let report = ReportBuilder::ramp_and_hold(60, 50.0).build(|_, u| Second {
            rps: u,
            p95_ms: 20.0,
            ..Second::default()
        });
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&calm);
        input.db_share = &rising;
        assert!(database_bound(&input, &FindingsConfig::default()).is_none());
    }

    #[test]
    fn pool_waits_make_both_findings() {
        let report = rising_latency();
        let resources = resources_with_target(60, |_| (30.0, 1 << 20), |_| 10.0);
        // p95 acquire wait: 0.2 ms until t = 40, then 25 ms.
        let scraped = scraped(vec![series(
            "dryad_db_pool_acquire_seconds",
            SeriesStat::Quantile { q: 0.95 },
            60,
            |t| if t > 40 { 0.025 } else { 0.0002 },
        )]);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        input.scraped = Some(&scraped);
        let cfg = FindingsConfig::default();
        let db = database_bound(&input, &cfg).expect("database finding");
        assert!(db.summary.contains("waited up to 25 ms"), "{}", db.summary);
        let pool = pool_saturated(&input, &cfg).expect("pool finding");
        assert_eq!(pool.window, Some(TimeWindow::new(40.0, 60.0)));
        assert!(pool.summary.contains("in 20 s"), "{}", pool.summary);
        // Renamed metric: the default patterns miss it until configured.
        let renamed = scraped_renamed();
        input.scraped = Some(&renamed);
        assert!(pool_saturated(&input, &cfg).is_none());
        let custom = FindingsConfig {
            metrics: super::super::MetricNames::new(&[], &["conn_wait_s"], &[], &[]).unwrap(),
            ..FindingsConfig::default()
        };
        assert!(pool_saturated(&input, &custom).is_some());
    }

    fn scraped_renamed() -> cicada_report::analysis_model::ScrapedMetrics {
        scraped(vec![series("conn_wait_s", SeriesStat::Mean, 60, |_| 0.05)])
    }

    #[test]
    fn a_full_pool_is_saturated_and_a_busy_one_is_not() {
        let report = rising_latency();
        let full = scraped(vec![
            series("dryad_db_pool_in_use", SeriesStat::Gauge, 60, |t| {
                if t > 50 { 10.0 } else { 4.0 }
            }),
            series("dryad_db_pool_max", SeriesStat::Gauge, 60, |_| 10.0),
        ]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&full);
        let f = pool_saturated(&input, &FindingsConfig::default()).expect("finding");
        assert!(
            f.summary.contains("Every connection was in use in 10 s"),
            "{}",
            f.summary
        );
        let busy = scraped(vec![
            series("dryad_db_pool_in_use", SeriesStat::Gauge, 60, |_| 8.0),
            series("dryad_db_pool_max", SeriesStat::Gauge, 60, |_| 10.0),
        ]);
        input.scraped = Some(&busy);
        assert!(pool_saturated(&input, &FindingsConfig::default()).is_none());
    }
}

#[cfg(test)]
mod dryad_exposition {
    //! The rules read dryad's own metric names through the real parser and accumulator.
    use super::super::test_support::*;
    use super::*;
    use crate::prom::{MetricSelector, SeriesAccumulator, parse_text};

    fn dryad_metrics(t: u64) -> String {
        // From 20 s on every connection is in use and acquisitions wait 50–100 ms.
        let saturated = t >= 20;
        let (in_use, idle) = if saturated { (8, 0) } else { (3, 5) };
        let n = t * 100;
        let slow = if saturated { (t - 19) * 100 } else { 0 };
        format!(
            "# HELP dryad_db_pool_max_connections Configured pool maximum.\n\
             # TYPE dryad_db_pool_max_connections gauge\ndryad_db_pool_max_connections 8\n\
             # TYPE dryad_db_pool_connections gauge\n\
             dryad_db_pool_connections{{state=\"in_use\"}} {in_use}\n\
             dryad_db_pool_connections{{state=\"idle\"}} {idle}\n\
             # TYPE dryad_db_pool_acquire_wait_seconds histogram\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{le=\"0.001\"}} {}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{le=\"0.05\"}} {}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{le=\"0.1\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{le=\"+Inf\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_sum 0\n\
             dryad_db_pool_acquire_wait_seconds_count {n}\n\
             # TYPE dryad_queue_depth gauge\ndryad_queue_depth 0\n",
            n - slow,
            n - slow
        )
    }

    #[test]
    fn dryad_pool_metrics_are_recognised_by_default() {
        let report = ReportBuilder::ramp_and_hold(40, 20.0).build(|_, u| Second {
            rps: u * 5.0,
            p95_ms: 30.0,
            ..Second::default()
        });
        let mut acc = SeriesAccumulator::new(MetricSelector::all(), &[0.5, 0.95, 0.99]);
        for t in 1..=40 {
            acc.add_scrape(t as f64, &parse_text(&dryad_metrics(t)).unwrap());
        }
        let scraped = acc.into_scraped("http://127.0.0.1:8000/metrics", 40, 0, None);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&scraped);
        let f = pool_saturated(&input, &FindingsConfig::default()).expect("pool finding");
        // Full from 20 s (21 samples), waits in the (50, 100] ms bucket from 20 s.
        assert!(
            f.summary.contains("every connection was in use in 21 s"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("took up to 97.5 ms"), "{}", f.summary);
        assert_eq!(f.window, Some(TimeWindow::new(19.0, 40.0)));
        let db = database_bound(&input, &FindingsConfig::default()).expect("database finding");
        assert!(
            db.summary.contains("dryad_db_pool_acquire_wait_seconds"),
            "{}",
            db.summary
        );
    }
}
