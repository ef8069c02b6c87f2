//! `cicada report RUN.json --html out.html [--csv PREFIX] [--junit FILE] [--json FILE]`:
//! re-render any report format from a saved JSON report. The HTML is byte-identical to the one
//! `cicada run --html` wrote for the same run.

use std::path::PathBuf;

use cicada_render::{OutputOptions, write_outputs};
use cicada_report::RunReport;

use crate::exit;

/// `cicada report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A JSON report written by `cicada run --json`.
    #[arg(value_name = "RUN.json")]
    pub input: PathBuf,
    /// Write the report as one HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-style CSV files PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Write thresholds as JUnit test cases to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the report as JSON again (normalised) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Run `cicada report`; returns the exit code (0 written, 2 bad input, 4 a file not written).
pub fn report(args: ReportArgs) -> i32 {
    let opts = OutputOptions {
        json: args.json,
        html: args.html,
        csv_prefix: args.csv,
        junit: args.junit,
    };
    if opts == OutputOptions::default() {
        eprintln!(
            "error: nothing to write: give --html FILE, --csv PREFIX, --junit FILE or --json FILE"
        );
        return exit::BAD_INPUT;
    }
    let report = match read_report(&args.input) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_INPUT;
        }
    };
    let errors = write_outputs(&report, &opts);
    for e in &errors {
        eprintln!("error: {e}");
    }
    if errors.is_empty() {
        exit::PASS
    } else {
        exit::INTERNAL
    }
}

/// Read and parse a saved JSON report, with the file name in the error.
pub fn read_report(path: &std::path::Path) -> Result<RunReport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read report {}: {e}", path.display()))?;
    RunReport::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn re_renders_byte_identical_html_from_json() {
        let dir = temp_dir();
        let original = cicada_report::sample::sample_report();
        let json = dir.path().join("run.json");
        std::fs::write(&json, original.to_json_pretty()).unwrap();
        let args = ReportArgs {
            input: json,
            html: Some(dir.path().join("out.html")),
            csv: Some(dir.path().join("out")),
            junit: Some(dir.path().join("junit.xml")),
            json: None,
        };
        assert_eq!(report(args), exit::PASS);
        let html = std::fs::read(dir.path().join("out.html")).unwrap();
        assert_eq!(
            html,
            cicada_render::html::render_html(&original).into_bytes()
        );
        let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        assert_eq!(junit, cicada_render::junit::render_junit(&original));
        let stats = std::fs::read_to_string(dir.path().join("out_stats.csv")).unwrap();
        assert_eq!(stats, cicada_render::locust_csv::stats_csv(&original));
    }

    #[test]
    fn bad_input_is_exit_2_with_the_file_named() {
        let dir = temp_dir();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"hello\": 1}").unwrap();
        let args = |input| ReportArgs {
            input,
            html: Some(dir.path().join("x.html")),
            csv: None,
            junit: None,
            json: None,
        };
        assert_eq!(report(args(bad.clone())), exit::BAD_INPUT);
        assert_eq!(
            report(args(dir.path().join("missing.json"))),
            exit::BAD_INPUT
        );
        assert!(read_report(&bad).unwrap_err().contains("bad.json"));
        assert!(!dir.path().join("x.html").exists());
    }

    #[test]
    fn nothing_to_write_is_bad_input() {
        let args = ReportArgs {
            input: "run.json".into(),
            html: None,
            csv: None,
            junit: None,
            json: None,
        };
        assert_eq!(report(args), exit::BAD_INPUT);
    }
}
