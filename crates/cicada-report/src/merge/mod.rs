//! One report from the reports of several workers that ran the same scenario at the same time
//! (a distributed run: `deploy/k8s/cicada-worker-job.yaml`), merged exactly.
//!
//! Every report row carries its full HDR histogram, so the merge adds histograms and recomputes
//! every percentile, mean, min and max of a request row and of the aggregated row from the sum —
//! the numbers are those of one run that had made every worker's requests. Counts, failures,
//! bytes and `Server-Timing` sums add; failure groups add by (row, kind, message); per-second
//! samples align by wall-clock second ([`timeline`]). What cannot be exact from the reports is
//! listed in [`MergeInfo::approximations`](crate::model::MergeInfo) and flagged in the verdict's
//! warnings, with what the figure is instead (an upper bound, a weighted mean).
//!
//! Thresholds are carried over unjudged: the caller judges them on [`Merged::row_histograms`]
//! (the engine's evaluator, `cicada::stats::report::judge`) and sets the verdict.
//!
//! ```
//! use cicada_report::merge::{Input, MergeError, MergeOptions, merge};
//! // The sample report is hand-made, without histograms: it cannot be merged exactly.
//! let report = cicada_report::sample::sample_report();
//! let inputs = vec![
//!     Input { source: "a.json".into(), report: report.clone() },
//!     Input { source: "b.json".into(), report },
//! ];
//! let err = merge(&inputs, &MergeOptions::default()).unwrap_err();
//! assert!(matches!(err, MergeError::NoHistogram { .. }));
//! assert!(err.to_string().starts_with("a.json: request row"));
//! ```

mod error;
mod input;
pub mod overlap;
mod rows;
mod run;
pub mod segments;
pub mod timeline;

pub use error::MergeError;
pub use input::{Input, parse_report_text};

use std::collections::BTreeMap;

use crate::histogram::Hist;
use crate::model::{FailureRow, RunReport};

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Merge reports of different scenarios or thresholds anyway (every threshold is judged),
    /// and reports that did not run at the same time ([`overlap`]; the verdict's warnings say so).
    pub force: bool,
    /// The caller knows the reports are of one run (a coordinator merging its own workers'
    /// reports, `cicada run --master`): the time-overlap check is skipped. Their clocks may
    /// differ by a few hundred milliseconds, and a worker lost in its first second leaves a
    /// report of a fraction of one.
    pub same_run: bool,
}

/// A merged report and the histograms of its request rows (parallel to `report.requests`),
/// on which thresholds are judged.
#[derive(Debug)]
pub struct Merged {
    pub report: RunReport,
    pub row_histograms: Vec<Hist>,
}

/// Counts of the figures that could not be exact, turned into sentences by [`Self::lines`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Approximations {
    /// Seconds several workers shared, without per-second histograms.
    pub second_percentiles: u64,
    /// (row, second) pairs several workers shared.
    pub row_second_percentiles: u64,
    /// Seconds in which several workers reported a schedule lag p99.
    pub second_lag: u64,
    /// Rows with a connect or TTFB mean from several workers.
    pub connect_ttfb: bool,
    /// "Current" rates added over workers whose last seconds may differ.
    pub current_rps: bool,
    /// Peaks (users per type, open-model concurrency) added over workers.
    pub peaks: bool,
    /// Open-model schedule lag percentiles over several workers.
    pub open_lag: bool,
}

impl Approximations {
    /// One sentence per approximated figure.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.second_percentiles > 0 {
            out.push(format!(
                "per-second percentiles of {} seconds that several workers shared are the highest \
                 of the workers' values (an upper bound; those reports carry no per-second \
                 histogram), and the cumulative per-second columns are left out",
                self.second_percentiles
            ));
        }
        if self.row_second_percentiles > 0 {
            out.push(format!(
                "per-request p50/p95/p99 of {} (request, second) pairs that several workers \
                 shared are the highest of the workers' values (an upper bound)",
                self.row_second_percentiles
            ));
        }
        if self.second_lag > 0 {
            out.push(format!(
                "the schedule lag p99 of {} seconds is the highest of the workers' values (an \
                 upper bound)",
                self.second_lag
            ));
        }
        if self.open_lag {
            out.push(
                "the run's schedule lag p50 and p99 are the highest of the workers' values (an \
                 upper bound); the maximum is exact"
                    .into(),
            );
        }
        if self.connect_ttfb {
            out.push(
                "connect and time-to-first-byte means are the workers' means weighted by their \
                 requests"
                    .into(),
            );
        }
        if self.current_rps {
            out.push("current RPS is the sum of each worker's rate in its own last second".into());
        }
        if self.peaks {
            out.push(
                "peak users per type and peak concurrency are the sums of the workers' peaks (an \
                 upper bound)"
                    .into(),
            );
        }
        out
    }
}

/// Merge reports (one is fine: the result is that report, re-derived). Refuses reports of
/// different scenarios or thresholds, and reports that did not run at the same time
/// ([`overlap`]), unless [`MergeOptions::force`]; and rows or seconds whose histogram is missing
/// (with requests) or does not decode.
pub fn merge(inputs: &[Input], opts: &MergeOptions) -> Result<Merged, MergeError> {
    let first = inputs.first().ok_or(MergeError::NoInputs)?;
    if !opts.force {
        for input in &inputs[1..] {
            run::check_same_scenario(first, input)?;
        }
    }
    let ran = overlap::times(inputs)?;
    let mut forced = Vec::new();
    if let Some(apart) = overlap::worst_pair(inputs, &ran).filter(|_| !opts.same_run) {
        if !opts.force {
            return Err(MergeError::NotOneRun(Box::new(apart)));
        }
        forced.push(format!(
            "merged with --force although these are not one distributed run: {apart}; rates \
             are over the whole span and the timeline holds the gap"
        ));
    }
    let mut approx = Approximations::default();
    let span = run::span(inputs)?;
    let mut rows = rows::Rows::default();
    let mut aggregated = rows::RowAcc::new();
    let mut failures: BTreeMap<_, (u64, Option<String>)> = BTreeMap::new();
    for input in inputs {
        let r = &input.report;
        for row in &r.requests {
            let what = || format!("request row {:?}", row_label(&row.method, &row.name));
            let hist =
                rows::decode_required(&input.source, what, row.requests, row.histogram.as_deref())?;
            rows.add(row, hist.as_ref());
        }
        let a = &r.aggregated;
        let hist = rows::decode_required(
            &input.source,
            || "the aggregated row".into(),
            a.requests,
            a.histogram.as_deref(),
        )?;
        aggregated.add(a, hist.as_ref());
        for f in &r.failures {
            let key = (
                f.name.clone(),
                f.method.clone(),
                f.user_type.clone(),
                f.kind,
                f.message.clone(),
            );
            let group = failures.entry(key).or_default();
            group.0 += f.occurrences;
            // The first report's excerpt that has one.
            if group.1.is_none() {
                group.1.clone_from(&f.body_excerpt);
            }
        }
    }
    let (requests, row_histograms) = rows.finish(span.duration_s, &mut approx);
    let key = (None, String::new(), "Aggregated".to_string());
    let aggregated = aggregated.finish(&key, span.duration_s, &mut approx);
    let mut failures: Vec<FailureRow> = failures
        .into_iter()
        .map(
            |((name, method, user_type, kind, message), (occurrences, body_excerpt))| FailureRow {
                user_type,
                method,
                name,
                kind,
                message,
                occurrences,
                body_excerpt,
            },
        )
        .collect();
    failures.sort_by_key(|f| std::cmp::Reverse(f.occurrences));
    let timelines: Vec<timeline::Timeline<'_>> = inputs
        .iter()
        .map(|i| timeline::Timeline {
            source: &i.source,
            samples: &i.report.timeline,
        })
        .collect();
    let timeline = timeline::merge_timelines(&timelines, &mut approx)?;
    let mut report = run::assemble(
        inputs,
        span,
        run::Stats {
            requests,
            aggregated,
            timeline,
            failures,
        },
        &mut approx,
    );
    // First: the report's figures are read in its light.
    report.verdict.warnings.splice(0..0, forced);
    Ok(Merged {
        report,
        row_histograms,
    })
}

fn row_label(method: &str, name: &str) -> String {
    if method.is_empty() {
        name.to_string()
    } else {
        format!("{method} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample report that ran from `start` to `end` (also used by the overlap tests).
    pub(super) fn input(name: &str, start: &str, end: &str) -> Input {
        let mut report = crate::sample::sample_report();
        report.run.started_at = start.into();
        report.run.ended_at = end.into();
        Input {
            source: name.into(),
            report,
        }
    }

    #[test]
    fn runs_apart_are_refused_unless_forced_or_known_to_be_one_run() {
        let inputs = [
            input("a", "2026-12-04T10:00:00Z", "2026-12-04T10:01:00Z"),
            input("b", "2026-12-04T10:05:00Z", "2026-12-04T10:06:00Z"),
        ];
        let err = merge(&inputs, &MergeOptions::default()).unwrap_err();
        assert!(matches!(err, MergeError::NotOneRun(_)), "{err}");
        // Past the time check, the hand-made sample (no histograms) is refused for that.
        for opts in [
            MergeOptions {
                force: true,
                ..MergeOptions::default()
            },
            MergeOptions {
                same_run: true,
                ..MergeOptions::default()
            },
        ] {
            let err = merge(&inputs, &opts).unwrap_err();
            assert!(matches!(err, MergeError::NoHistogram { .. }), "{err}");
        }
    }
}
