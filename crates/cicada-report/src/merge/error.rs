//! Why reports could not be merged. Every error names the file it is about.

use crate::model::ReportParseError;

/// A merge refused: nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no reports to merge: give one or more JSON reports (or worker logs)")]
    NoInputs,
    #[error("cannot read report {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: ReportParseError,
    },
    #[error(
        "{path}: {what} has {requests} requests but no histogram (a report from an older cicada?); \
         an exact merge needs the histograms: re-run the worker with this cicada"
    )]
    NoHistogram {
        path: String,
        what: String,
        requests: u64,
    },
    #[error("{path}: the histogram of {what} does not decode (a damaged or hand-edited report)")]
    BadHistogram { path: String, what: String },
    #[error("{path}: {what} is not an RFC 3339 time: {value:?}")]
    BadTime {
        path: String,
        what: &'static str,
        value: String,
    },
    #[error(
        "{path}: ended_at {ended_at} is before started_at {started_at} (a damaged or hand-edited report)"
    )]
    EndsBeforeStart {
        path: String,
        started_at: String,
        ended_at: String,
    },
    /// Two reports whose times do not overlap enough to be one distributed run
    /// ([`super::overlap`]).
    #[error("{0}: these are not one distributed run; pass --force to merge them anyway")]
    NotOneRun(Box<super::overlap::NotOneRun>),
    #[error(
        "{path}: scenario {found:?} is not {expected:?} of {first}; reports of different \
         scenarios are not merged (--force merges them anyway)"
    )]
    DifferentScenario {
        path: String,
        first: String,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: thresholds [{found}] differ from [{expected}] of {first}; reports with \
         different thresholds are not merged (--force merges them and judges every threshold)"
    )]
    DifferentThresholds {
        path: String,
        first: String,
        expected: String,
        found: String,
    },
}
