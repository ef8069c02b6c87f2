//! Turning merged statistics into a [`RunReport`], and evaluating thresholds on them.

use cicada_report::model::{
    FailureRow, MachineInfo, OpenModelStats, PlanInfo, RequestStats, RunInfo, RunReport,
    SCHEMA_VERSION, ThresholdResult, ToolInfo, UserStarts, UserTypeInfo,
};

use super::collector::Collector;
use super::failures::FailureGroup;
use super::histogram::{
    Hist, distribution, encode, mean_ms, min_max_ms, new_hist, percentile_ms, percentiles,
};
use super::shard::RowInterval;
use crate::scenario::compile::RowKey;
use crate::threshold::{Metric, Scope, Threshold, ThresholdError, ThresholdSource};
use crate::verdict::{RowFailures, decide};

/// Everything about a run besides its statistics.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    pub scenario: String,
    pub scenario_file: Option<String>,
    pub host: String,
    pub plan: PlanInfo,
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    pub interrupted: bool,
    pub seed: u64,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub user_types: Vec<UserTypeInfo>,
    pub machine: MachineInfo,
    pub open: bool,
    pub peak_concurrency: u64,
    pub scheduled_iterations: u64,
    pub warnings: Vec<String>,
    /// `--exit-code-on-error` (or the scenario's `[defaults] exit_code_on_error`).
    pub exit_code_on_error: u8,
    pub users: UserCounts,
    /// The execution segment run (`None`: the whole run).
    pub segment: Option<String>,
}

/// The runner's count of its users (see [`UserStarts`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct UserCounts {
    pub spawned: u64,
    /// Users whose `on_start` never succeeded.
    pub never_started: u64,
    /// The row of the `on_start` request that failed most often.
    pub failed_row: Option<usize>,
}

impl UserCounts {
    /// The report's figures: the failing request is the most frequent failure group of
    /// `failed_row`.
    fn starts(&self, rows: &[RowKey], c: &Collector) -> UserStarts {
        let failed_request = self.failed_row.and_then(|row| {
            c.failures
                .sorted()
                .into_iter()
                .find(|g| g.0 == row)
                .map(|g| failure_row(rows, g))
        });
        UserStarts {
            spawned: self.spawned,
            never_started: self.never_started,
            failed_request,
        }
    }
}

fn failure_row(rows: &[RowKey], g: FailureGroup<'_>) -> FailureRow {
    let (row, kind, message, n, excerpt) = g;
    FailureRow {
        user_type: Some(rows[row].user_type.clone()),
        method: rows[row].method.clone(),
        name: rows[row].name.clone(),
        kind,
        message: message.to_string(),
        occurrences: n,
        body_excerpt: excerpt.map(str::to_string),
    }
}

fn row_stats(
    key: Option<&RowKey>,
    r: &RowInterval,
    last: &RowInterval,
    duration_s: f64,
    last_len_s: f64,
) -> RequestStats {
    let (min_ms, max_ms) = min_max_ms(&r.hist);
    let d = duration_s.max(1e-3);
    RequestStats {
        user_type: key.map(|k| k.user_type.clone()),
        method: key.map(|k| k.method.clone()).unwrap_or_default(),
        name: key.map_or_else(|| "Aggregated".to_string(), |k| k.name.clone()),
        requests: r.requests,
        failures: r.failures,
        failure_ratio: if r.requests == 0 {
            0.0
        } else {
            r.failures as f64 / r.requests as f64
        },
        min_ms,
        max_ms,
        mean_ms: mean_ms(&r.hist),
        percentiles: percentiles(&r.hist),
        avg_size_bytes: if r.requests == 0 {
            0.0
        } else {
            r.bytes as f64 / r.requests as f64
        },
        total_bytes: r.bytes,
        rps: r.requests as f64 / d,
        failures_per_s: r.failures as f64 / d,
        current_rps: last.requests as f64 / last_len_s,
        current_failures_per_s: last.failures as f64 / last_len_s,
        connect_mean_ms: (r.connects > 0).then(|| r.connect_us as f64 / r.connects as f64 / 1000.0),
        ttfb_mean_ms: (r.ttfb_count > 0).then(|| r.ttfb_us as f64 / r.ttfb_count as f64 / 1000.0),
        distribution: distribution(&r.hist),
        histogram: if r.requests == 0 {
            None
        } else {
            encode(&r.hist)
        },
        server_timing: r.timing.stats(),
    }
}

/// Merge the rows a scope selects.
fn merged(rows: &[RowKey], totals: &[RowInterval], scope: &Scope) -> RowInterval {
    let mut acc = RowInterval::new();
    for (key, r) in rows.iter().zip(totals) {
        if scope.matches(&key.method, &key.name) {
            acc.merge(r);
        }
    }
    acc
}

/// Evaluate one threshold on the totals.
pub fn evaluate(
    t: &Threshold,
    rows: &[RowKey],
    totals: &[RowInterval],
    duration_s: f64,
) -> ThresholdResult {
    let r = merged(rows, totals, &t.scope);
    judge(t, &r.hist, r.requests, r.failures, duration_s)
}

/// Judge one threshold on the merged statistics of the rows in its scope: their latency
/// histogram, request and failure counts, over a run of `duration_s` seconds.
pub fn judge(
    t: &Threshold,
    hist: &Hist,
    requests: u64,
    failures: u64,
    duration_s: f64,
) -> ThresholdResult {
    let observed = if requests == 0
        && !matches!(t.metric, Metric::Requests | Metric::Failures | Metric::Rps)
    {
        None
    } else {
        Some(match t.metric {
            Metric::Percentile(p) => percentile_ms(hist, p),
            Metric::Mean => mean_ms(hist),
            Metric::Min => min_max_ms(hist).0,
            Metric::Max => min_max_ms(hist).1,
            Metric::ErrorRate => failures as f64 / requests as f64 * 100.0,
            Metric::Rps => requests as f64 / duration_s.max(1e-3),
            Metric::Requests => requests as f64,
            Metric::Failures => failures as f64,
        })
    };
    ThresholdResult {
        expression: t.expression.clone(),
        scope: t.scope.label(),
        metric: t.metric_name.clone(),
        op: t.op.to_string(),
        limit: t.limit,
        observed,
        unit: t.unit().to_string(),
        passed: observed.is_some_and(|o| t.op.holds(o, t.limit)),
        source: t.source.as_str().to_string(),
    }
}

/// Judge a finished report's thresholds again on its own rows — a merge of several workers'
/// reports (`cicada merge`) — and decide its verdict again from them (warnings and the
/// `exit_code_on_error` in effect are kept). `hists` are the rows' latency histograms, parallel
/// to `report.requests`.
pub fn rejudge(report: &mut RunReport, hists: &[Hist]) -> Result<(), ThresholdError> {
    let duration_s = report.run.duration_s;
    let mut results = Vec::with_capacity(report.thresholds.len());
    let mut parsed = Vec::with_capacity(report.thresholds.len());
    for old in &report.thresholds {
        let source = if old.source == ThresholdSource::Scenario.as_str() {
            ThresholdSource::Scenario
        } else {
            ThresholdSource::Cli
        };
        let t = Threshold::parse(&old.expression, source)?;
        let mut hist = new_hist();
        let (mut requests, mut failures) = (0, 0);
        for (row, h) in report.requests.iter().zip(hists) {
            if t.scope.matches(&row.method, &row.name) {
                // Auto-resizing: adding cannot run out of range.
                let _ = hist.add(h);
                requests += row.requests;
                failures += row.failures;
            }
        }
        results.push(judge(&t, &hist, requests, failures, duration_s));
        parsed.push(t);
    }
    let rows: Vec<RowFailures<'_>> = report.requests.iter().map(row_failures).collect();
    report.verdict = decide(
        &parsed,
        &results,
        &rows,
        report.verdict.exit_code_on_error,
        report.users.as_ref().and_then(UserStarts::headline),
        std::mem::take(&mut report.verdict.warnings),
    );
    report.thresholds = results;
    Ok(())
}

fn row_failures(r: &RequestStats) -> RowFailures<'_> {
    RowFailures {
        method: &r.method,
        name: &r.name,
        requests: r.requests,
        failures: r.failures,
    }
}

/// Build the full report.
pub fn build_report(
    c: &Collector,
    rows: &[RowKey],
    thresholds_in: &[Threshold],
    meta: ReportMeta,
) -> RunReport {
    let d = meta.duration_s;
    let mut requests: Vec<RequestStats> = rows
        .iter()
        .enumerate()
        .map(|(i, key)| row_stats(Some(key), &c.totals[i], &c.last[i], d, c.last_len_s))
        .collect();
    requests.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.method.cmp(&b.method))
            .then(a.user_type.cmp(&b.user_type))
    });
    let all = merged(rows, &c.totals, &Scope::All);
    let last_all = merged(rows, &c.last, &Scope::All);
    let aggregated = row_stats(None, &all, &last_all, d, c.last_len_s);
    let failures = c
        .failures
        .sorted()
        .into_iter()
        .map(|g| failure_row(rows, g))
        .collect();
    let users = meta.users.starts(rows, c);
    let thresholds: Vec<ThresholdResult> = thresholds_in
        .iter()
        .map(|t| evaluate(t, rows, &c.totals, d))
        .collect();
    let mut warnings = meta.warnings.clone();
    if meta.interrupted {
        warnings.push("the run was interrupted: results are partial".to_string());
    }
    if meta.open && c.dropped > 0 {
        warnings.push(format!(
            "{} iterations were dropped because the concurrency cap was reached",
            c.dropped
        ));
    }
    let rows_seen: Vec<RowFailures<'_>> = requests.iter().map(row_failures).collect();
    let verdict = decide(
        thresholds_in,
        &thresholds,
        &rows_seen,
        meta.exit_code_on_error,
        users.headline(),
        warnings,
    );
    let open_model = meta.open.then(|| OpenModelStats {
        scheduled_iterations: meta.scheduled_iterations,
        started_iterations: c.started,
        late_iterations: c.late,
        dropped_iterations: c.dropped,
        schedule_lag_p50_ms: percentile_ms(&c.lag, 50.0),
        schedule_lag_p99_ms: percentile_ms(&c.lag, 99.0),
        schedule_lag_max_ms: min_max_ms(&c.lag).1,
        peak_concurrency: meta.peak_concurrency,
    });
    RunReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "cicada".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        run: RunInfo {
            scenario: meta.scenario,
            scenario_file: meta.scenario_file,
            host: meta.host,
            plan: meta.plan,
            started_at: meta.started_at,
            ended_at: meta.ended_at,
            duration_s: d,
            interrupted: meta.interrupted,
            seed: meta.seed,
            segment: meta.segment,
            tags: meta.tags,
            exclude_tags: meta.exclude_tags,
            user_types: meta.user_types,
            machine: meta.machine,
        },
        verdict,
        requests,
        aggregated,
        timeline: c.timeline.clone(),
        failures,
        thresholds,
        open_model,
        analysis: None,
        merged: None,
        users: Some(users),
    }
}
