//! Writing a finished [`RunReport`] to the files a user asked for (`--json`, `--html`, `--csv`,
//! `--junit`). The CLI calls [`write_outputs`] once at the end of a run — also after Ctrl-C — and
//! `cicada report` calls it to re-render a saved JSON report.

use std::path::{Path, PathBuf};

use cicada_report::model::RunReport;

/// Which files to write. `None` skips a format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// `--json FILE`: the report as JSON (the schema in `docs/report.schema.json`).
    pub json: Option<PathBuf>,
    /// `--html FILE`: one self-contained HTML page.
    pub html: Option<PathBuf>,
    /// `--csv PREFIX`: `PREFIX_stats.csv`, `PREFIX_stats_history.csv`, `PREFIX_failures.csv`.
    pub csv_prefix: Option<PathBuf>,
    /// `--junit FILE`: thresholds as JUnit test cases.
    pub junit: Option<PathBuf>,
}

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} report to {}: {source}", path.display())]
pub struct OutputError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Write every requested format. Tries all of them even if one fails, and returns every error,
/// so one bad path never loses the other reports.
pub fn write_outputs(report: &RunReport, opts: &OutputOptions) -> Vec<OutputError> {
    let mut errors = Vec::new();
    if let Some(path) = &opts.json {
        write_file(
            "JSON",
            path,
            report.to_json_pretty().as_bytes(),
            &mut errors,
        );
    }
    if let Some(path) = &opts.html {
        write_file(
            "HTML",
            path,
            crate::html::render_html(report).as_bytes(),
            &mut errors,
        );
    }
    if let Some(prefix) = &opts.csv_prefix {
        for (suffix, text) in crate::locust_csv::render_csv(report) {
            let path = crate::locust_csv::csv_path(prefix, suffix);
            write_file("CSV", &path, text.as_bytes(), &mut errors);
        }
    }
    if let Some(path) = &opts.junit {
        write_file(
            "JUnit",
            path,
            crate::junit::render_junit(report).as_bytes(),
            &mut errors,
        );
    }
    errors
}

fn write_file(what: &'static str, path: &Path, bytes: &[u8], errors: &mut Vec<OutputError>) {
    if let Err(source) = std::fs::write(path, bytes) {
        errors.push(OutputError {
            what,
            path: path.to_path_buf(),
            source,
        });
    }
}
