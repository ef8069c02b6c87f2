//! Write-lock contention: writes wait for the database's write lock (SQLite's single writer,
//! a table or row lock), read from the target's write-wait histogram (dryad:
//! `dryad_db_write_wait_seconds`, p95 per interval, else its mean). Not a pool too small:
//! connections were free, the lock was not. Severity follows the share of response time the
//! wait accounts for in those seconds (the wait over the second's P95).

use cicada_report::analysis_model::{Finding, FindingKind, MetricSeries, SeriesStat, TimeWindow};

use super::timeline::{mean, seconds_to_windows};
use super::{FindingsConfig, FindingsInput, ev, num, severity};

/// Seconds of waiting needed before the rule speaks.
const MIN_SECONDS: usize = 3;

fn name(s: &MetricSeries) -> String {
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

pub fn write_lock(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let selector = cfg.metrics.write_wait.as_ref();
    let mut stat = "p95";
    let mut series = input.series(
        selector,
        |s| matches!(s, SeriesStat::Quantile { q } if (*q - 0.95).abs() < 1e-9),
    );
    if series.is_empty() {
        series = input.series(selector, |s| *s == SeriesStat::Mean);
        stat = "mean";
    }
    // The series that waited in the most seconds: (series, [(second, wait ms)]). Waits of a
    // background side (dryad's `pool="worker"`) delay no request under test directly.
    let (s, waits) = series
        .iter()
        .filter(|s| {
            !s.labels
                .values()
                .any(|v| matches!(v.as_str(), "worker" | "background"))
        })
        .map(|s| {
            let waits: Vec<(u64, f64)> = s
                .points
                .iter()
                .map(|p| (p.elapsed_s.round() as u64, p.value * 1000.0))
                .filter(|w| w.1 > cfg.pool_wait_ms)
                .collect();
            (*s, waits)
        })
        .max_by_key(|(_, w)| w.len())?;
    if waits.len() < MIN_SECONDS {
        return None;
    }
    let share = mean(waits.iter().filter_map(|(t, ms)| {
        let p95 = input
            .report
            .timeline
            .iter()
            .find(|s| s.elapsed_s == *t)?
            .percentiles
            .p95;
        (p95 > 0.0).then(|| (ms / p95).min(1.0))
    }))
    .unwrap_or(0.0);
    let worst = waits.iter().map(|w| w.1).fold(0.0, f64::max);
    let typical = mean(waits.iter().map(|w| w.1))?;
    let seconds: Vec<u64> = waits.iter().map(|w| w.0).collect();
    let windows = seconds_to_windows(&seconds);
    let window = TimeWindow::new(windows[0].start_s, windows[windows.len() - 1].end_s);
    let metric = name(s);
    // The request row that waits most outside its queries (Server-Timing pool, which counts
    // the write-lock wait on dryad).
    let writer = input
        .report
        .requests
        .iter()
        .filter_map(|r| Some((r, r.server_timing.as_ref()?)))
        .max_by(|a, b| a.1.pool_share.total_cmp(&b.1.pool_share))
        .filter(|(_, t)| t.pool_share > 0.0);
    let mut evidence = vec![
        ev(
            &format!("{metric} {stat} (worst interval)"),
            worst,
            "ms",
            Some(window),
        ),
        ev(
            &format!("{metric} {stat} (mean)"),
            typical,
            "ms",
            Some(window),
        ),
        ev(
            "seconds with write-lock waits",
            waits.len() as f64,
            "s",
            Some(window),
        ),
        ev(
            "write-lock wait, share of response time",
            share * 100.0,
            "%",
            Some(window),
        ),
    ];
    let mut summary = format!(
        "Writes waited for the database's write lock in {} s: {} {} {} ms on average, up to {} \
         ms, about {} % of response time in those seconds.",
        waits.len(),
        metric,
        stat,
        num(typical, 1),
        num(worst, 1),
        num(share * 100.0, 0)
    );
    if let Some((r, t)) = writer {
        let row = format!("{} {}", r.method, r.name);
        summary.push_str(&format!(
            " {row} spends {} % of its response time waiting ({} ms per request) and {} % in \
             its queries.",
            num(t.pool_share * 100.0, 0),
            num(t.pool_wait_mean_ms, 1),
            num(t.db_share * 100.0, 0)
        ));
        evidence.push(ev(
            &format!("{row}: share of its response time waiting (Server-Timing pool)"),
            t.pool_share * 100.0,
            "%",
            None,
        ));
    }
    Some(Finding {
        kind: FindingKind::WriteLockContention,
        severity: severity::from_share(share, severity::latency_slo_missed(input.report)),
        score: 470.0 + 40.0 * share + waits.len() as f64 / 10.0,
        title: "Writes wait for the database's write lock".to_owned(),
        summary,
        evidence,
        window: Some(window),
        next_step: "Shorten what holds the write lock: commit sooner (no slow work or network \
                    calls inside a write transaction), batch small writes into one transaction, \
                    or move hot writes off the single writer (PostgreSQL instead of SQLite, or a \
                    queue that writes in bulk). More connections do not help: they wait for the \
                    same lock."
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cicada_report::analysis_model::Severity;

    fn report() -> cicada_report::RunReport {
        ReportBuilder::ramp_and_hold(20, 16.0).build(|_, u| Second {
            rps: u * 30.0,
            p95_ms: 100.0,
            ..Second::default()
        })
    }

    #[test]
    fn writes_waiting_for_the_writer_are_lock_contention() {
        let report = report();
        let waits = scraped(vec![series(
            "dryad_db_write_wait_seconds",
            SeriesStat::Quantile { q: 0.95 },
            20,
            |t| if t > 5 { 0.06 } else { 0.0005 },
        )]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&waits);
        let f = write_lock(&input, &FindingsConfig::default()).expect("finding");
        assert!(f.summary.contains("in 15 s"), "{}", f.summary);
        assert!(f.summary.contains("60 ms on average"), "{}", f.summary);
        // 60 ms of 100 ms P95.
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.window, Some(TimeWindow::new(5.0, 20.0)));
    }

    #[test]
    fn background_writers_waiting_are_not_the_requests_contention() {
        let report = report();
        let mut worker = series(
            "dryad_db_write_wait_seconds",
            SeriesStat::Quantile { q: 0.95 },
            20,
            |_| 0.02,
        );
        worker.labels.insert("pool".into(), "worker".into());
        let waits = scraped(vec![worker]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&waits);
        assert!(write_lock(&input, &FindingsConfig::default()).is_none());
    }

    #[test]
    fn short_or_no_waits_are_not_contention() {
        let report = report();
        let short = scraped(vec![series(
            "dryad_db_write_wait_seconds",
            SeriesStat::Quantile { q: 0.95 },
            20,
            |_| 0.0008,
        )]);
        let mut input = FindingsInput::new(&report);
        input.scraped = Some(&short);
        assert!(write_lock(&input, &FindingsConfig::default()).is_none());
        // The acquire-wait histogram of the pool is not the write lock's.
        let pool = scraped(vec![series(
            "dryad_db_pool_acquire_wait_seconds",
            SeriesStat::Quantile { q: 0.95 },
            20,
            |_| 0.05,
        )]);
        input.scraped = Some(&pool);
        assert!(write_lock(&input, &FindingsConfig::default()).is_none());
    }
}
