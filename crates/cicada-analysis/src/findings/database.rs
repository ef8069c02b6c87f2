//! Database-bound and connection-pool saturation.
//!
//! Database-bound: latency rises while the target's CPU stays below 60 % and the share of
//! response time spent in the database (`Server-Timing: db`) rises; or requests wait for a
//! pool connection while the CPU is not the limit. Pool saturation: the pool acquire wait
//! (p95 of an interval) exceeds its limit, or every connection is in use, for 3 s or more.
//!
//! The pool wait comes from the target's scraped acquire-wait histogram (p95, else mean per
//! interval) or, without one, from `Server-Timing: pool` (mean per second). Severity follows
//! the share of response time the database or the wait accounts for ([`super::severity`]).

use std::collections::BTreeMap;

use cicada_report::analysis_model::{Finding, FindingKind, MetricSeries, SeriesStat, TimeWindow};

use super::timeline::{mean, seconds_to_windows, thirds};
use super::{FindingsConfig, FindingsInput, ev, num, severity};
use crate::server_timing::pool_wait_series;

/// Seconds the pool must be saturated (or waited for) before a rule speaks.
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

/// Seconds in which requests waited for a pool connection beyond the limit.
struct PoolWait {
    seconds: Vec<u64>,
    /// The worst interval's wait, ms.
    worst_ms: f64,
    /// Where the figure comes from (a metric name, or `Server-Timing pool`).
    source: String,
    /// `p95`, `mean` or `mean per response`.
    stat: &'static str,
    /// Share (0..=1) of response time spent waiting in those seconds.
    share: f64,
}

/// The pool acquire wait beyond `cfg.pool_wait_ms`. From `Server-Timing: pool` (mean per
/// response per second) when the target sent it: that is the wait of the very requests under
/// test. Otherwise from the scraped acquire-wait histogram (p95 per interval, else its mean),
/// which also counts the target's own background acquisitions.
fn pool_wait(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<PoolWait> {
    // second → worst wait in ms
    let mut by_second: BTreeMap<u64, f64> = BTreeMap::new();
    let mut worst: f64 = 0.0;
    let mut source = String::new();
    let mut note = |second: u64, ms: f64, name: &str| {
        if ms > cfg.pool_wait_ms {
            let w = by_second.entry(second).or_default();
            *w = w.max(ms);
            if ms > worst {
                worst = ms;
                source = name.to_owned();
            }
        }
    };
    let timed = pool_wait_series(input.report);
    let stat = if timed.is_empty() {
        let selector = cfg.metrics.pool_acquire_wait.as_ref();
        let mut stat = "p95";
        let mut series: Vec<&MetricSeries> = input.series(
            selector,
            |s| matches!(s, SeriesStat::Quantile { q } if (*q - 0.95).abs() < 1e-9),
        );
        if series.is_empty() {
            series = input.series(selector, |s| *s == SeriesStat::Mean);
            stat = "mean";
        }
        // A target with several pools (labels such as dryad's `pool="api"|"worker"`): each
        // wait series counts only while its own pool was full, when its gauges are known.
        let full = pools_full(input, cfg);
        for s in &series {
            let own = full.as_ref().and_then(|f| f.get(&pool_key(&s.labels)));
            let name = series_name(s);
            for p in &s.points {
                let second = p.elapsed_s.round() as u64;
                if own.is_some_and(|own| !own.iter().any(|f| f.abs_diff(second) <= 1)) {
                    continue;
                }
                note(second, p.value * 1000.0, &name);
            }
        }
        stat
    } else {
        for p in &timed {
            note(p.elapsed_s.round() as u64, p.value, "Server-Timing pool");
        }
        "mean per response"
    };
    // Waits while connections were free are the pool's own overhead (or the CPU's), not a
    // pool too small: when the in-use and maximum gauges are known, only seconds in which the
    // pool was full (within a second: scrapes and seconds are sampled apart) count.
    if let Some(full) = pool_full(input, cfg) {
        by_second.retain(|s, _| full.iter().any(|f| f.abs_diff(*s) <= 1));
        worst = by_second.values().copied().fold(0.0, f64::max);
    }
    if by_second.is_empty() {
        return None;
    }
    let share = wait_share(input, &by_second);
    Some(PoolWait {
        seconds: by_second.keys().copied().collect(),
        worst_ms: worst,
        source,
        stat,
        share,
    })
}

/// The share of response time spent waiting for a connection in the given seconds: exact from
/// `Server-Timing` (Σ pool / Σ response time) when the target sent it, else each second's wait
/// over its P95 response time, averaged.
fn wait_share(input: &FindingsInput<'_>, by_second: &BTreeMap<u64, f64>) -> f64 {
    let seconds = input
        .report
        .timeline
        .iter()
        .filter(|s| by_second.contains_key(&s.elapsed_s));
    let (pool, response) = seconds
        .clone()
        .filter_map(|s| s.server_timing.as_ref())
        .fold((0.0, 0.0), |(p, r), t| (p + t.pool_ms, r + t.response_ms));
    if response > 0.0 {
        return (pool / response).min(1.0);
    }
    mean(
        seconds
            .filter(|s| s.percentiles.p95 > 0.0)
            .map(|s| (by_second[&s.elapsed_s] / s.percentiles.p95).min(1.0)),
    )
    .unwrap_or(0.0)
}

/// The request row that spent the largest share of its response time on the database
/// (queries plus waiting for a connection): label, query share, wait share, mean ms of each.
fn most_database_bound_row(input: &FindingsInput<'_>) -> Option<(String, [f64; 4])> {
    input
        .report
        .requests
        .iter()
        .filter_map(|r| {
            let t = r.server_timing.as_ref()?;
            Some((
                format!("{} {}", r.method, r.name),
                [t.db_share, t.pool_share, t.db_mean_ms, t.pool_wait_mean_ms],
            ))
        })
        .filter(|(_, v)| v[0] + v[1] > 0.0)
        .max_by(|a, b| (a.1[0] + a.1[1]).total_cmp(&(b.1[0] + b.1[1])))
}

/// A pool among the scraped series: its labels without `state` (`{}` for a single pool,
/// `{pool="api"}` for one of dryad's).
type PoolKey = BTreeMap<String, String>;

fn pool_key(labels: &BTreeMap<String, String>) -> PoolKey {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "state")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `name` or `name{k="v",…}`.
fn series_name(s: &MetricSeries) -> String {
    if s.labels.is_empty() {
        return s.name.clone();
    }
    let labels: Vec<String> = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{}{{{}}}", s.name, labels.join(","))
}

/// Seconds in which connections in use reached 95 % of the pool's maximum, any pool.
/// `None` when the target exposes no pair of in-use and maximum gauges to compare.
fn pool_full(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Vec<u64>> {
    let mut all: Vec<u64> = pools_full(input, cfg)?.into_values().flatten().collect();
    all.sort_unstable();
    all.dedup();
    Some(all)
}

/// Per pool, the seconds in which its connections in use reached 95 % of its maximum.
/// `None` when the target exposes no pair of in-use and maximum gauges to compare.
fn pools_full(
    input: &FindingsInput<'_>,
    cfg: &FindingsConfig,
) -> Option<BTreeMap<PoolKey, Vec<u64>>> {
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
    let mut out: BTreeMap<PoolKey, Vec<u64>> = BTreeMap::new();
    let mut paired = false;
    for u in &in_use {
        // Pair with the max gauge of the same pool (labels but `state`), else the only one.
        let key = pool_key(&u.labels);
        let Some(m) = max
            .iter()
            .find(|m| pool_key(&m.labels) == key)
            .or_else(|| (max.len() == 1).then(|| &max[0]))
        else {
            continue;
        };
        paired = true;
        let seconds = out.entry(key).or_default();
        for p in &u.points {
            if let Some(limit) = m.points.iter().find(|q| q.elapsed_s == p.elapsed_s)
                && limit.value > 0.0
                && p.value >= 0.95 * limit.value
            {
                seconds.push(p.elapsed_s.round() as u64);
            }
        }
    }
    for seconds in out.values_mut() {
        seconds.sort_unstable();
        seconds.dedup();
    }
    paired.then_some(out)
}

/// Per pool, connections in use as a share of its maximum (0..=1): (pool label, mean, peak)
/// over the scrapes. Empty when the target exposes no pair of in-use and maximum gauges.
pub(crate) fn pool_utilisation(
    input: &FindingsInput<'_>,
    cfg: &FindingsConfig,
) -> Vec<(String, f64, f64)> {
    let in_use = input
        .series(cfg.metrics.pool_in_use.as_ref(), |s| {
            *s == SeriesStat::Gauge
        })
        .into_iter()
        .filter(|s| {
            s.labels
                .get("state")
                .is_none_or(|st| matches!(st.as_str(), "in_use" | "busy" | "active" | "used"))
        });
    let max = input.series(cfg.metrics.pool_max.as_ref(), |s| *s == SeriesStat::Gauge);
    let mut out = Vec::new();
    for u in in_use {
        let key = pool_key(&u.labels);
        let Some(m) = max
            .iter()
            .find(|m| pool_key(&m.labels) == key)
            .or_else(|| (max.len() == 1).then(|| &max[0]))
        else {
            continue;
        };
        let shares: Vec<f64> = u
            .points
            .iter()
            .filter_map(|p| {
                let limit = m.points.iter().find(|q| q.elapsed_s == p.elapsed_s)?;
                (limit.value > 0.0).then(|| (p.value / limit.value).min(1.0))
            })
            .collect();
        if let Some(avg) = mean(shares.iter().copied()) {
            let label = key
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(",");
            out.push((label, avg, shares.iter().copied().fold(0.0, f64::max)));
        }
    }
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
    // The share of response time the database accounts for: the severity's measure.
    let mut impact: f64 = 0.0;

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
        impact = impact.max(db_late);
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
    if let Some(wait) = pool_wait(input, cfg)
        && wait.seconds.len() >= MIN_POOL_SECONDS
        && cpu_whole.is_none_or(|c| c < cfg.target_cpu_bound_pct)
    {
        let windows = seconds_to_windows(&wait.seconds);
        let w = TimeWindow::new(windows[0].start_s, windows[windows.len() - 1].end_s);
        window.get_or_insert(w);
        // The wait for a connection is the pool's finding: it counts toward the database's
        // severity only as far as queries hold the connections (their own share, below).
        evidence.push(ev(
            &format!("{} {} (worst interval)", wait.source, wait.stat),
            wait.worst_ms,
            "ms",
            Some(w),
        ));
        evidence.push(ev(
            "pool wait, share of response time",
            wait.share * 100.0,
            "%",
            Some(w),
        ));
        reasons.push(format!(
            "requests waited up to {} ms for a database connection ({}, {}) in {} s, {} % of \
             their response time",
            num(wait.worst_ms, 1),
            wait.source,
            wait.stat,
            wait.seconds.len(),
            num(wait.share * 100.0, 0)
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    if let Some(all) = &input.report.aggregated.server_timing {
        impact = impact.max(all.db_share);
        evidence.push(ev(
            "database share of response time (Server-Timing db, whole run)",
            all.db_share * 100.0,
            "%",
            Some(whole),
        ));
    }
    if let Some((row, [db, pool, db_ms, pool_ms])) = most_database_bound_row(input) {
        evidence.push(ev(
            &format!("{row}: share of its response time in queries (Server-Timing db)"),
            db * 100.0,
            "%",
            Some(whole),
        ));
        evidence.push(ev(
            &format!("{row}: share of its response time waiting for a connection (pool)"),
            pool * 100.0,
            "%",
            Some(whole),
        ));
        reasons.push(format!(
            "{row} spends the most on the database: {} % of its response time in queries \
             ({} ms per request) and {} % waiting for a connection ({} ms)",
            num(db * 100.0, 0),
            num(db_ms, 1),
            num(pool * 100.0, 0),
            num(pool_ms, 1)
        ));
    }
    let impact = impact.min(1.0);
    Some(Finding {
        kind: FindingKind::DatabaseBound,
        severity: severity::from_share(impact, severity::latency_slo_missed(input.report)),
        score: 450.0 + 10.0 * reasons.len() as f64 + 40.0 * impact,
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
    let by_pool = pools_full(input, cfg).unwrap_or_default();
    let full = pool_full(input, cfg).unwrap_or_default();
    let wait_seconds = wait.as_ref().map_or(0, |w| w.seconds.len());
    let most_full = by_pool.values().map(Vec::len).max().unwrap_or(0);
    if wait_seconds < MIN_POOL_SECONDS && most_full < MIN_POOL_SECONDS {
        return None;
    }
    let mut all: Vec<u64> = wait
        .as_ref()
        .map(|w| w.seconds.clone())
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
    let mut impact = 0.0;
    if let Some(wait) = &wait
        && wait.seconds.len() >= MIN_POOL_SECONDS
    {
        impact = wait.share;
        evidence.push(ev(
            &format!("{} {} (worst interval)", wait.source, wait.stat),
            wait.worst_ms,
            "ms",
            Some(w),
        ));
        evidence.push(ev(
            "seconds with acquire wait",
            wait.seconds.len() as f64,
            "s",
            Some(w),
        ));
        evidence.push(ev(
            "pool wait, share of response time",
            wait.share * 100.0,
            "%",
            Some(w),
        ));
        parts.push(format!(
            "acquiring a connection took up to {} ms ({} {}; over {} ms in {} s), {} % of \
             response time",
            num(wait.worst_ms, 1),
            wait.source,
            wait.stat,
            num(cfg.pool_wait_ms, 1),
            wait.seconds.len(),
            num(wait.share * 100.0, 0)
        ));
    }
    for (pool, seconds) in &by_pool {
        if seconds.len() < MIN_POOL_SECONDS {
            continue;
        }
        // Name the pool when the target has several (dryad: `pool="api"`, `pool="worker"`).
        let which = if pool.is_empty() {
            String::new()
        } else {
            let labels: Vec<String> = pool.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!(" ({})", labels.join(","))
        };
        evidence.push(ev(
            &format!("seconds with every connection in use{which}"),
            seconds.len() as f64,
            "s",
            Some(w),
        ));
        parts.push(format!(
            "every connection{which} was in use in {} s",
            seconds.len()
        ));
    }
    Some(Finding {
        kind: FindingKind::ConnectionPoolSaturated,
        // A full pool nobody waits for costs users nothing: the wait's share is the measure.
        severity: severity::from_share(impact, severity::latency_slo_missed(input.report)),
        score: 400.0 + all.len() as f64 + 40.0 * impact,
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
mod server_timing {
    //! Pool waits and database time from `Server-Timing`, and severity by their share.
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;
    use cicada_report::model::{ServerTimingStats, ThresholdResult};

    /// 60 s; from 31 s on, 100 responses a second of 40 ms each that waited `pool_ms` for a
    /// connection and spent 10 ms in the database.
    fn report_with_waits(pool_ms: u64) -> cicada_report::RunReport {
        let mut report = ReportBuilder::ramp_and_hold(60, 50.0).build(|_, u| Second {
            rps: u * 5.0,
            p95_ms: 40.0,
            ..Second::default()
        });
        for s in report.timeline.iter_mut().filter(|s| s.elapsed_s > 30) {
            s.server_timing =
                ServerTimingStats::from_sums_us(100, 4_000_000, 1_000_000, pool_ms * 100_000, 0);
        }
        report.aggregated.server_timing =
            ServerTimingStats::from_sums_us(3000, 120_000_000, 30_000_000, pool_ms * 3_000_000, 0);
        report.requests[0].server_timing = report.aggregated.server_timing.clone();
        report
    }

    #[test]
    fn server_timing_pool_waits_make_both_findings_without_a_scrape() {
        let report = report_with_waits(25);
        let input = FindingsInput::new(&report);
        let cfg = FindingsConfig::default();
        let db = database_bound(&input, &cfg).expect("database finding");
        assert!(
            db.summary.contains(
                "waited up to 25 ms for a database connection (Server-Timing pool, mean per \
                 response) in 30 s, 62 % of their response time"
            ),
            "{}",
            db.summary
        );
        assert!(
            db.summary.contains(
                "GET / spends the most on the database: 25 % of its response time in queries \
                 (10 ms per request) and 62 % waiting for a connection (25 ms)"
            ),
            "{}",
            db.summary
        );
        assert_eq!(db.window, Some(TimeWindow::new(30.0, 60.0)));
        // 25 % of response time in queries: a warning; the 62.5 % waiting for a connection
        // is the pool's, critical, and ranks first.
        assert_eq!(db.severity, Severity::Warning);
        let pool = pool_saturated(&input, &cfg).expect("pool finding");
        assert_eq!(pool.severity, Severity::Critical);
        assert!(
            pool.evidence
                .iter()
                .any(|e| e.label == "pool wait, share of response time" && e.value == 62.5),
            "{:?}",
            pool.evidence
        );
        assert_eq!(pool.window, Some(TimeWindow::new(30.0, 60.0)));
    }

    #[test]
    fn severity_follows_the_share_of_response_time() {
        let cfg = FindingsConfig::default();
        // 2 ms of pool wait in 40 ms responses (5 %, with 25 % in the database): the pool is
        // information, the database as a whole a warning.
        let report = report_with_waits(2);
        let input = FindingsInput::new(&report);
        assert_eq!(
            pool_saturated(&input, &cfg).unwrap().severity,
            Severity::Info
        );
        assert_eq!(
            database_bound(&input, &cfg).unwrap().severity,
            Severity::Warning
        );
        // 5 ms (12.5 %) is information until the run misses its latency SLO.
        let mut report = report_with_waits(5);
        assert_eq!(
            pool_saturated(&FindingsInput::new(&report), &cfg)
                .unwrap()
                .severity,
            Severity::Info
        );
        report.thresholds.push(ThresholdResult {
            expression: "p95<30".into(),
            scope: None,
            metric: "p95".into(),
            op: "<".into(),
            limit: 30.0,
            observed: Some(40.0),
            unit: "ms".into(),
            passed: false,
            source: "cli".into(),
        });
        assert_eq!(
            pool_saturated(&FindingsInput::new(&report), &cfg)
                .unwrap()
                .severity,
            Severity::Warning
        );
        // Under the 1 ms limit: no finding at all.
        let report = report_with_waits(1);
        assert!(pool_saturated(&FindingsInput::new(&report), &cfg).is_none());
    }

    #[test]
    fn waits_while_connections_are_free_are_not_saturation() {
        let report = report_with_waits(25);
        let cfg = FindingsConfig::default();
        let gauges = |in_use: fn(u64) -> f64| {
            scraped(vec![
                series("dryad_db_pool_in_use", SeriesStat::Gauge, 60, in_use),
                series("dryad_db_pool_max", SeriesStat::Gauge, 60, |_| 10.0),
            ])
        };
        // Never more than 4 of 10 connections in use: the waits are overhead, no finding.
        let free = gauges(|_| 4.0);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&free);
        assert!(pool_saturated(&input, &cfg).is_none());
        assert!(database_bound(&input, &cfg).is_none());
        // Full from 41 s: only those seconds (±1 s) count.
        let full = gauges(|t| if t > 40 { 10.0 } else { 4.0 });
        input.scraped = Some(&full);
        let f = pool_saturated(&input, &cfg).expect("pool finding");
        assert!(f.summary.contains("over 1 ms in 21 s"), "{}", f.summary);
        assert!(database_bound(&input, &cfg).is_some());
    }

    #[test]
    fn a_scraped_wait_is_weighed_against_p95() {
        // 2 ms p95 acquire waits in seconds whose P95 is 40 ms: 5 %, information.
        let report = ReportBuilder::ramp_and_hold(60, 50.0).build(|_, u| Second {
            rps: u * 5.0,
            p95_ms: 40.0,
            ..Second::default()
        });
        let scraped = scraped(vec![series(
            "dryad_db_pool_acquire_wait_seconds",
            SeriesStat::Quantile { q: 0.95 },
            60,
            |_| 0.002,
        )]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&scraped);
        let f = pool_saturated(&input, &FindingsConfig::default()).unwrap();
        assert_eq!(f.severity, Severity::Info);
        assert!(f.summary.contains("5 % of response time"), "{}", f.summary);
    }
}

#[cfg(test)]
mod dryad_exposition {
    //! The rules read dryad's own metric names through the real parser and accumulator.
    use super::super::test_support::*;
    use super::*;
    use crate::prom::{MetricSelector, SeriesAccumulator, parse_text};

    fn dryad_metrics(t: u64) -> String {
        // From 20 s on every connection of the API pool is in use and its acquisitions wait
        // 50–100 ms. The workers' pool is never full, and its acquisitions always wait
        // 0.5–1 s (64 workers on 4 connections): waits the API's requests never see.
        let saturated = t >= 20;
        let (in_use, idle) = if saturated { (8, 0) } else { (3, 5) };
        let n = t * 100;
        let slow = if saturated { (t - 19) * 100 } else { 0 };
        let api = format!(
            "dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"api\",le=\"0.001\"}} {}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"api\",le=\"0.05\"}} {}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"api\",le=\"0.1\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"api\",le=\"1\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"api\",le=\"+Inf\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_sum{{pool=\"api\"}} 0\n\
             dryad_db_pool_acquire_wait_seconds_count{{pool=\"api\"}} {n}\n",
            n - slow,
            n - slow
        );
        let worker = format!(
            "dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"worker\",le=\"0.001\"}} 0\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"worker\",le=\"0.05\"}} 0\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"worker\",le=\"0.1\"}} 0\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"worker\",le=\"1\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_bucket{{pool=\"worker\",le=\"+Inf\"}} {n}\n\
             dryad_db_pool_acquire_wait_seconds_sum{{pool=\"worker\"}} 0\n\
             dryad_db_pool_acquire_wait_seconds_count{{pool=\"worker\"}} {n}\n"
        );
        format!(
            "# HELP dryad_db_pool_max_connections Configured pool maximum.\n\
             # TYPE dryad_db_pool_max_connections gauge\n\
             dryad_db_pool_max_connections{{pool=\"api\"}} 8\n\
             dryad_db_pool_max_connections{{pool=\"worker\"}} 4\n\
             # TYPE dryad_db_pool_connections gauge\n\
             dryad_db_pool_connections{{pool=\"api\",state=\"in_use\"}} {in_use}\n\
             dryad_db_pool_connections{{pool=\"api\",state=\"idle\"}} {idle}\n\
             dryad_db_pool_connections{{pool=\"worker\",state=\"in_use\"}} 2\n\
             dryad_db_pool_connections{{pool=\"worker\",state=\"idle\"}} 2\n\
             # TYPE dryad_db_pool_acquire_wait_seconds histogram\n\
             {api}{worker}\
             # TYPE dryad_queue_depth gauge\ndryad_queue_depth 0\n"
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
        // The API pool full from 20 s (21 samples), its waits in the (50, 100] ms bucket from
        // 20 s; the workers' longer waits do not count, their pool was never full.
        assert!(
            f.summary
                .contains("every connection (pool=\"api\") was in use in 21 s"),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains(
                "took up to 97.5 ms (dryad_db_pool_acquire_wait_seconds{pool=\"api\"} p95"
            ),
            "{}",
            f.summary
        );
        assert_eq!(f.window, Some(TimeWindow::new(19.0, 40.0)));
        let db = database_bound(&input, &FindingsConfig::default()).expect("database finding");
        assert!(
            db.summary.contains("dryad_db_pool_acquire_wait_seconds"),
            "{}",
            db.summary
        );
    }
}
