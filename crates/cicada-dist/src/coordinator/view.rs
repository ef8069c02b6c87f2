//! The coordinator's view of a run: the workers' latest reports merged exactly
//! (`cicada_report::merge`: histograms added, every percentile recomputed), the thresholds
//! judged on the merged numbers, the whole run's plan, and one row per worker (state, last
//! second seen, users, RPS, CPU, RSS, heartbeat round trip and clock skew).

use std::sync::Arc;

use cicada::runner::RunConfig;
use cicada::stats::Collector;
use cicada::stats::report::{ReportMeta, UserCounts, build_report, rejudge};
use cicada_report::RunReport;
use cicada_report::merge::{Input, MergeOptions, merge};
use cicada_report::model::{LiveWorker, MergeInfo, MergedWorker, UserTypeInfo, WorkerStatus};

use super::run::{Member, RunRecord};

/// The merged view, recomputed only when a worker sent something new.
pub(crate) fn merged(run: &mut RunRecord) -> Arc<RunReport> {
    if let Some((version, report)) = &run.cache
        && *version == run.version
    {
        return Arc::clone(report);
    }
    let report = Arc::new(build(run));
    run.cache = Some((run.version, Arc::clone(&report)));
    report
}

/// Merge the members' latest reports (a lost worker's last second, a done worker's final
/// report) into one.
pub(crate) fn build(run: &RunRecord) -> RunReport {
    let inputs: Vec<Input> = run
        .members
        .iter()
        .filter_map(|m| {
            m.latest.as_ref().map(|r| Input {
                source: m.label(),
                report: r.clone(),
            })
        })
        .collect();
    let mut report = if inputs.is_empty() {
        run.empty.clone()
    } else {
        // One run by construction: no time-overlap check (docs/report.md, "Not one run").
        let opts = MergeOptions {
            same_run: true,
            ..MergeOptions::default()
        };
        match merge(&inputs, &opts) {
            Ok(mut m) => {
                if let Err(e) = rejudge(&mut m.report, &m.row_histograms) {
                    m.report
                        .verdict
                        .warnings
                        .push(format!("a threshold could not be judged: {e}"));
                }
                m.report
            }
            Err(e) => {
                let mut r = run.empty.clone();
                r.verdict
                    .warnings
                    .push(format!("the workers' data could not be merged: {e}"));
                r
            }
        }
    };
    let n = run.members.len();
    report.run.plan = run.whole_plan.clone();
    report.run.plan.description = format!(
        "{}, split over {n} worker{}",
        run.whole_plan.description,
        if n == 1 { "" } else { "s" }
    );
    let (reports, mut rows, approximations, segments) = match report.merged.take() {
        Some(m) => (m.reports, m.workers, m.approximations, m.segments),
        None => (0, Vec::new(), Vec::new(), None),
    };
    let workers = run
        .members
        .iter()
        .map(|m| {
            let label = m.label();
            let mut row = match rows.iter().position(|w| w.source == label) {
                Some(i) => rows.swap_remove(i),
                None => blank(m),
            };
            row.live = Some(live(m));
            row
        })
        .collect();
    report.merged = Some(MergeInfo {
        reports,
        workers,
        approximations,
        segments,
    });
    for m in run
        .members
        .iter()
        .filter(|m| m.status == WorkerStatus::Lost)
    {
        report.verdict.warnings.push(format!(
            "{} was lost: its data up to {:.0} s of the run is counted, the rest of its part \
             did not run",
            m.label(),
            m.last_seen_s
        ));
    }
    if let Some(why) = &run.aborted {
        // Stopped on a failed threshold, not interrupted: the run fails (exit 1), even if the
        // threshold recovered in the seconds the workers took to stop.
        report.run.interrupted = false;
        report.verdict.warnings.insert(0, why.clone());
        if report.verdict.passed {
            report.verdict.passed = false;
            report.verdict.failed.push(why.clone());
            report.verdict.reason = why.clone();
            report.verdict.exit_code = Some(1);
        }
    }
    report
}

fn live(m: &Member) -> LiveWorker {
    LiveWorker {
        index: m.index as u64,
        pid: m.pid,
        status: m.status,
        last_seen_s: m.last_seen_s,
        users: m.users,
        current_rps: m.latest.as_ref().map_or(0.0, |r| r.aggregated.current_rps),
        cpu_pct: m.cpu_pct,
        rss_bytes: m.rss_bytes,
        rtt_ms: m.rtt_ms,
        clock_skew_ms: m.skew_ms,
    }
}

fn blank(m: &Member) -> MergedWorker {
    MergedWorker {
        source: m.label(),
        hostname: m.hostname.clone(),
        started_at: String::new(),
        ended_at: String::new(),
        seed: 0,
        requests: 0,
        failures: 0,
        passed: true,
        interrupted: false,
        segment: Some(m.segment.clone()),
        live: None,
    }
}

/// The report of the run before any worker sent data: every row at zero.
pub(crate) fn empty_report(config: &RunConfig) -> RunReport {
    let program = &config.program;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let meta = ReportMeta {
        scenario: program.name.clone(),
        scenario_file: program.source_file.clone(),
        host: config.target.url.clone(),
        plan: config.plan.info(),
        started_at: now.clone(),
        ended_at: now,
        duration_s: 0.0,
        interrupted: false,
        seed: config.seed,
        tags: program.tags.clone(),
        exclude_tags: program.exclude_tags.clone(),
        user_types: program
            .user_types
            .iter()
            .map(|u| UserTypeInfo {
                name: u.name.clone(),
                weight: u.weight,
                peak_users: 0,
            })
            .collect(),
        machine: cicada::runner::machine_info(config.worker_threads),
        open: config.plan.is_open(),
        peak_concurrency: 0,
        scheduled_iterations: 0,
        warnings: Vec::new(),
        exit_code_on_error: config.exit_code_on_error,
        users: UserCounts::default(),
        segment: None,
    };
    build_report(
        &Collector::new(program.rows.len()),
        &program.rows,
        &program.thresholds,
        meta,
    )
}
