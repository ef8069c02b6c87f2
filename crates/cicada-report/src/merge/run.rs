//! The merged report's run description: the earliest start and latest end, the workers listed,
//! plans and machines summed up, open-model counters added, the workers' warnings kept.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};

use super::{Approximations, Input, MergeError};
use crate::model::{
    FailureRow, IntervalSample, MachineInfo, MergeInfo, MergedWorker, OpenModelStats, RequestStats,
    RunInfo, RunReport, SCHEMA_VERSION, ThresholdResult, ToolInfo, UserStarts, UserTypeInfo,
    Verdict,
};

/// Refuse a report of another scenario or with other thresholds than the first.
pub(super) fn check_same_scenario(first: &Input, other: &Input) -> Result<(), MergeError> {
    let (a, b) = (&first.report, &other.report);
    if a.run.scenario != b.run.scenario {
        return Err(MergeError::DifferentScenario {
            path: other.source.clone(),
            first: first.source.clone(),
            expected: a.run.scenario.clone(),
            found: b.run.scenario.clone(),
        });
    }
    let list = |r: &RunReport| {
        r.thresholds
            .iter()
            .map(|t| t.expression.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if list(a) != list(b) {
        return Err(MergeError::DifferentThresholds {
            path: other.source.clone(),
            first: first.source.clone(),
            expected: list(a),
            found: list(b),
        });
    }
    Ok(())
}

/// When the merged run began and ended.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub(super) started_at: String,
    pub(super) ended_at: String,
    /// From the earliest start to the latest end.
    pub(super) duration_s: f64,
}

pub(super) fn parse_time(
    input: &Input,
    what: &'static str,
    value: &str,
) -> Result<DateTime<FixedOffset>, MergeError> {
    DateTime::parse_from_rfc3339(value).map_err(|_| MergeError::BadTime {
        path: input.source.clone(),
        what,
        value: value.to_string(),
    })
}

pub(super) fn span(inputs: &[Input]) -> Result<Span, MergeError> {
    let mut start: Option<(DateTime<FixedOffset>, &str)> = None;
    let mut end: Option<(DateTime<FixedOffset>, &str)> = None;
    for input in inputs {
        let run = &input.report.run;
        let s = parse_time(input, "started_at", &run.started_at)?;
        let e = parse_time(input, "ended_at", &run.ended_at)?;
        if start.is_none_or(|(t, _)| s < t) {
            start = Some((s, &run.started_at));
        }
        if end.is_none_or(|(t, _)| e > t) {
            end = Some((e, &run.ended_at));
        }
    }
    let ((s, started), (e, ended)) = start.zip(end).ok_or(MergeError::NoInputs)?;
    let one = inputs.len() == 1;
    Ok(Span {
        started_at: started.to_string(),
        ended_at: ended.to_string(),
        // One report keeps its own duration (its clock, not the rounded times).
        duration_s: if one {
            inputs[0].report.run.duration_s
        } else {
            (e - s).num_microseconds().unwrap_or(0) as f64 / 1e6
        },
    })
}

/// The merged statistics, ready to be wrapped in a report.
#[derive(Debug)]
pub(super) struct Stats {
    pub(super) requests: Vec<RequestStats>,
    pub(super) aggregated: RequestStats,
    pub(super) timeline: Vec<IntervalSample>,
    pub(super) failures: Vec<FailureRow>,
}

/// Each distinct value once, in the order first seen (one value when every report has it).
fn same_or_joined(inputs: &[Input], f: impl Fn(&RunReport) -> String, sep: &str) -> String {
    let mut values: Vec<String> = Vec::new();
    for value in inputs.iter().map(|i| f(&i.report)) {
        if !values.contains(&value) {
            values.push(value);
        }
    }
    values.join(sep)
}

/// The generators' machine: CPUs and memory count once per host (two workers on one machine
/// do not double it; pods have hosts of their own), worker threads add over every worker.
fn machine(inputs: &[Input]) -> MachineInfo {
    let mut hosts: BTreeMap<&str, (u32, Option<u64>)> = BTreeMap::new();
    for m in inputs.iter().map(|i| &i.report.run.machine) {
        let host = hosts.entry(m.hostname.as_str()).or_insert((0, Some(0)));
        host.0 = host.0.max(m.cpus);
        host.1 = host.1.zip(m.memory_bytes).map(|(a, b)| a.max(b));
    }
    MachineInfo {
        hostname: same_or_joined(inputs, |r| r.run.machine.hostname.clone(), " + "),
        os: same_or_joined(inputs, |r| r.run.machine.os.clone(), " + "),
        cpus: hosts.values().map(|h| h.0).sum(),
        memory_bytes: hosts.values().map(|h| h.1).sum(),
        worker_threads: inputs
            .iter()
            .map(|i| i.report.run.machine.worker_threads)
            .sum(),
    }
}

fn user_types(inputs: &[Input], approx: &mut Approximations) -> Vec<UserTypeInfo> {
    let mut types: Vec<UserTypeInfo> = Vec::new();
    for u in inputs.iter().flat_map(|i| &i.report.run.user_types) {
        match types.iter_mut().find(|t| t.name == u.name) {
            Some(t) => {
                t.peak_users += u.peak_users;
                approx.peaks = true;
            }
            None => types.push(u.clone()),
        }
    }
    types
}

fn open_model(inputs: &[Input], approx: &mut Approximations) -> Option<OpenModelStats> {
    let all: Vec<&OpenModelStats> = inputs
        .iter()
        .filter_map(|i| i.report.open_model.as_ref())
        .collect();
    if all.len() > 1 {
        approx.open_lag = true;
        approx.peaks = true;
    }
    all.into_iter().cloned().reduce(|a, b| OpenModelStats {
        scheduled_iterations: a.scheduled_iterations + b.scheduled_iterations,
        started_iterations: a.started_iterations + b.started_iterations,
        late_iterations: a.late_iterations + b.late_iterations,
        dropped_iterations: a.dropped_iterations + b.dropped_iterations,
        schedule_lag_p50_ms: a.schedule_lag_p50_ms.max(b.schedule_lag_p50_ms),
        schedule_lag_p99_ms: a.schedule_lag_p99_ms.max(b.schedule_lag_p99_ms),
        schedule_lag_max_ms: a.schedule_lag_max_ms.max(b.schedule_lag_max_ms),
        peak_concurrency: a.peak_concurrency + b.peak_concurrency,
    })
}

/// Every threshold of every report, once (by expression), in the order first seen; unjudged
/// until the caller judges them on the merged rows.
fn thresholds(inputs: &[Input]) -> Vec<ThresholdResult> {
    let mut out: Vec<ThresholdResult> = Vec::new();
    for t in inputs.iter().flat_map(|i| &i.report.thresholds) {
        if !out.iter().any(|o| o.expression == t.expression) {
            out.push(ThresholdResult {
                observed: None,
                passed: false,
                ..t.clone()
            });
        }
    }
    out
}

fn worker(input: &Input) -> MergedWorker {
    let r = &input.report;
    MergedWorker {
        source: input.source.clone(),
        hostname: r.run.machine.hostname.clone(),
        started_at: r.run.started_at.clone(),
        ended_at: r.run.ended_at.clone(),
        seed: r.run.seed,
        requests: r.aggregated.requests,
        failures: r.aggregated.failures,
        passed: r.verdict.passed,
        interrupted: r.run.interrupted,
        segment: r.run.segment.clone(),
        live: None,
    }
}

/// The workers' own warnings, each naming its worker (once when all share it).
fn warnings(
    inputs: &[Input],
    approx: &Approximations,
    coverage: &super::segments::Coverage,
) -> Vec<String> {
    let mut out = coverage.warnings.clone();
    if inputs.len() > 1 {
        let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for i in inputs {
            for w in &i.report.verdict.warnings {
                seen.entry(w)
                    .or_default()
                    .push(&i.report.run.machine.hostname);
            }
        }
        for (w, hosts) in seen {
            if hosts.len() == inputs.len() {
                out.push(format!("every worker: {w}"));
            } else {
                out.push(format!("worker {}: {w}", hosts.join(", ")));
            }
        }
        let lines = approx.lines();
        if !lines.is_empty() {
            out.push(format!(
                "merged from {} reports: {} figure(s) are not exact (see the run section): {}",
                inputs.len(),
                lines.len(),
                lines.join("; ")
            ));
        }
    } else {
        out.extend(inputs[0].report.verdict.warnings.iter().cloned());
    }
    out
}

pub(super) fn assemble(
    inputs: &[Input],
    span: Span,
    stats: Stats,
    approx: &mut Approximations,
) -> RunReport {
    let first = &inputs[0].report;
    let n = inputs.len();
    let description = same_or_joined(inputs, |r| r.run.plan.description.clone(), " | ");
    let mut plan = first.run.plan.clone();
    if n > 1 {
        plan.description = format!("{n} workers, each: {description}");
    }
    let user_types = user_types(inputs, approx);
    let segments: Vec<Option<&str>> = inputs
        .iter()
        .map(|i| i.report.run.segment.as_deref())
        .collect();
    let coverage = super::segments::coverage(&segments);
    let open_model = open_model(inputs, approx);
    let run = RunInfo {
        scenario: same_or_joined(inputs, |r| r.run.scenario.clone(), " + "),
        scenario_file: first.run.scenario_file.clone(),
        host: same_or_joined(inputs, |r| r.run.host.clone(), " + "),
        plan,
        started_at: span.started_at,
        ended_at: span.ended_at,
        duration_s: span.duration_s,
        interrupted: inputs.iter().any(|i| i.report.run.interrupted),
        seed: first.run.seed,
        segment: coverage.merged.clone(),
        tags: first.run.tags.clone(),
        exclude_tags: first.run.exclude_tags.clone(),
        user_types,
        machine: machine(inputs),
    };
    let warnings = warnings(inputs, approx, &coverage);
    RunReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "cicada".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        run,
        // Judged again on the merged numbers by `cicada::stats::report::rejudge`.
        verdict: Verdict {
            warnings,
            exit_code_on_error: first.verdict.exit_code_on_error,
            ..Verdict::default()
        },
        requests: stats.requests,
        aggregated: stats.aggregated,
        timeline: stats.timeline,
        failures: stats.failures,
        thresholds: thresholds(inputs),
        open_model,
        // Resources and findings are of one machine's view; they are not merged.
        analysis: None,
        merged: Some(MergeInfo {
            reports: n as u64,
            workers: inputs.iter().map(worker).collect(),
            approximations: approx.lines(),
            segments: coverage.summary,
        }),
        users: users(inputs),
    }
}

/// The workers' users added up; the failing `on_start` request is the one that failed most
/// often in any worker. `None` when no worker recorded its users.
fn users(inputs: &[Input]) -> Option<UserStarts> {
    let all: Vec<&UserStarts> = inputs
        .iter()
        .filter_map(|i| i.report.users.as_ref())
        .collect();
    if all.is_empty() {
        return None;
    }
    Some(UserStarts {
        spawned: all.iter().map(|u| u.spawned).sum(),
        never_started: all.iter().map(|u| u.never_started).sum(),
        failed_request: all
            .iter()
            .filter_map(|u| u.failed_request.as_ref())
            .max_by_key(|f| f.occurrences)
            .cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(host: &str, cpus: u32, memory: Option<u64>) -> Input {
        let mut report = crate::sample::sample_report();
        report.run.machine = MachineInfo {
            hostname: host.into(),
            os: "linux x86_64".into(),
            cpus,
            memory_bytes: memory,
            worker_threads: cpus,
        };
        Input {
            source: format!("{host}.json"),
            report,
        }
    }

    #[test]
    fn machines_count_once_per_host_and_threads_per_worker() {
        let m = machine(&[
            input("vm", 2, Some(8)),
            input("vm", 2, Some(8)),
            input("pod-1", 4, Some(16)),
        ]);
        assert_eq!(m.hostname, "vm + pod-1");
        assert_eq!(m.cpus, 6);
        assert_eq!(m.memory_bytes, Some(24));
        assert_eq!(m.worker_threads, 8);
        let m = machine(&[input("a", 2, Some(8)), input("b", 2, None)]);
        assert_eq!((m.cpus, m.memory_bytes), (4, None));
    }
}
