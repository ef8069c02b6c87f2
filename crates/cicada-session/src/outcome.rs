//! How a finished run ended, for an exit code: the CLI maps each [`Outcome`] to its number.

use cicada_report::RunReport;

/// The end of a run, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by Ctrl-C / SIGTERM (or a stop request); every report was still written.
    Interrupted,
    /// A requested report file could not be written.
    ReportsNotWritten,
    /// A threshold failed, or the auto-scaling checks did.
    Failed,
    /// Every threshold (and scaling check) passed.
    Passed,
}

/// Judge a finished run; `reports_written` is false when a report file could not be written.
pub fn judge(report: &RunReport, reports_written: bool) -> Outcome {
    if report.run.interrupted {
        Outcome::Interrupted
    } else if !reports_written {
        Outcome::ReportsNotWritten
    } else if !report.verdict.passed || scaling_failed(report) {
        Outcome::Failed
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
        assert_eq!(judge(&r, true), Outcome::Failed);
        r.verdict.passed = true;
        assert_eq!(judge(&r, true), Outcome::Passed);
    }
}
