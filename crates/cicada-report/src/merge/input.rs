//! Reading the reports to merge: a JSON report as `cicada run --json` wrote it, or a worker's
//! log with the report in it (`kubectl logs` of `deploy/k8s/cicada-worker-job.yaml`, where the
//! terminal summary and a marker line come before the pretty-printed JSON).

use std::path::Path;

use super::MergeError;
use crate::model::{ReportParseError, RunReport};

/// One report to merge and where it came from.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file it was read from, as given (named in errors and in the merged report).
    pub source: String,
    pub report: RunReport,
}

impl Input {
    /// Read a JSON report or a log that holds one.
    pub fn read(path: &Path) -> Result<Self, MergeError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| MergeError::Read {
            path: source.clone(),
            source: e,
        })?;
        let report = parse_report_text(&text).map_err(|e| MergeError::Parse {
            path: source.clone(),
            source: e,
        })?;
        Ok(Self { source, report })
    }
}

/// Parse a report from a file's text: the whole text as JSON, else the last pretty-printed
/// report embedded in it (a line `{` followed by a line starting `"schema_version"`). The JSON
/// error of the whole text is returned when no report is embedded.
pub fn parse_report_text(text: &str) -> Result<RunReport, ReportParseError> {
    match RunReport::from_json(text) {
        Err(ReportParseError::Json(e)) => match embedded_report(text) {
            Some(json) => RunReport::from_json(json),
            None => Err(ReportParseError::Json(e)),
        },
        other => other,
    }
}

/// The text of the last JSON report embedded in a log, up to the end of its value.
fn embedded_report(text: &str) -> Option<&str> {
    let mut start = None;
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if line.trim_end() == "{"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("\"schema_version\""))
        {
            start = Some(offset);
        }
        offset += line.len();
    }
    let rest = &text[start?..];
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    values.next()?.ok()?;
    Some(&rest[..values.byte_offset()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_report_out_of_a_worker_log() {
        let report = crate::sample::sample_report();
        let log = format!(
            "summary line {{ not json\n=== cicada worker 1 report (exit 0) ===\n{}\n",
            report.to_json_pretty()
        );
        assert_eq!(parse_report_text(&log).unwrap(), report);
        assert_eq!(parse_report_text(&report.to_json_pretty()).unwrap(), report);
    }

    #[test]
    fn a_log_without_a_report_is_a_json_error() {
        let err = parse_report_text("just a log\n{\n  \"x\": 1\n}\n").unwrap_err();
        assert!(matches!(err, ReportParseError::Json(_)), "{err}");
        let cut = crate::sample::sample_report().to_json_pretty();
        let err = parse_report_text(&format!("log\n{}", &cut[..cut.len() / 2])).unwrap_err();
        assert!(matches!(err, ReportParseError::Json(_)), "{err}");
    }
}
