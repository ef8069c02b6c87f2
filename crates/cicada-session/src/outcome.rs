//! How a finished run ended, for an exit code: the CLI maps each [`Outcome`] to its number.

use cicada_report::RunReport;

/// The end of a run, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by Ctrl-C / SIGTERM (or a stop request); every report was still written.
    Interrupted,
    /// A requested report file could not be written.
    ReportsNotWritten,
    /// The verdict failed (a threshold, or requests no error threshold allows: see
    /// `cicada::verdict`), or the auto-scaling checks did; `code` is the verdict's exit code
    /// (1 for the scaling checks).
    Failed { code: u8 },
    /// Every threshold (and scaling check) passed.
    Passed,
}

/// Judge a finished run; `reports_written` is false when a report file could not be written.
pub fn judge(report: &RunReport, reports_written: bool) -> Outcome {
    if report.run.interrupted {
        Outcome::Interrupted
    } else if !reports_written {
        Outcome::ReportsNotWritten
    } else if !report.verdict.passed {
        Outcome::Failed {
            code: report.verdict.exit_code(),
        }
    } else if scaling_failed(report) {
        Outcome::Failed { code: 1 }
    } else {
        Outcome::Passed
    }
}

/// Whether `--scaling-probe` checks ran and one failed.
fn scaling_failed(report: &RunReport) -> bool {
    report
        .analysis
        .as_ref()
        .and_then(|a| a.scaling.as_ref())
        .is_some_and(|s| !s.passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interruption_outranks_unwritten_reports_which_outrank_the_verdict() {
        let mut r = cicada_report::sample::sample_report();
        r.verdict.passed = false;
        r.run.interrupted = true;
        assert_eq!(judge(&r, false), Outcome::Interrupted);
        r.run.interrupted = false;
        assert_eq!(judge(&r, false), Outcome::ReportsNotWritten);
        assert_eq!(judge(&r, true), Outcome::Failed { code: 1 });
        r.verdict.exit_code = Some(3);
        assert_eq!(judge(&r, true), Outcome::Failed { code: 3 });
        r.verdict.passed = true;
        r.verdict.exit_code = Some(0);
        assert_eq!(judge(&r, true), Outcome::Passed);
    }
}
