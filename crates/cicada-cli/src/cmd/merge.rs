//! `cicada merge A.json B.json [...] [--json OUT] [--html OUT] [--csv PREFIX] [--junit FILE]`:
//! one report from the reports of the workers of a distributed run, merged exactly (histograms
//! added, every percentile recomputed; `cicada_report::merge`), its thresholds judged again on
//! the merged numbers. Inputs may be JSON reports or worker logs holding one.

use std::path::PathBuf;

use cicada_render::{OutputOptions, write_outputs};
use cicada_report::merge::{Input, MergeOptions, merge as merge_reports};

use crate::{exit, summary};

/// `cicada merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The workers' reports: JSON written by `cicada run --json`, or a worker's log that holds
    /// one (`kubectl logs` of deploy/k8s/cicada-worker-job.yaml). One is fine.
    #[arg(value_name = "REPORT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged report as JSON to FILE (it can be merged again).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the merged report as one HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-style CSV files PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, visible_alias = "csv-prefix", value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Write the thresholds (judged on the merged numbers) as JUnit test cases to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Merge reports of different scenarios or with different thresholds (all are judged), or
    /// runs that did not run at the same time (the verdict's warnings say so).
    #[arg(long)]
    pub force: bool,
    /// Print only the verdict, not the per-request table.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Run `cicada merge`; returns 0 when every threshold passes on the merged numbers, 1 when one
/// fails, 2 on bad input (nothing written), 4 when a report file could not be written.
pub fn merge(args: MergeArgs) -> i32 {
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for path in &args.inputs {
        match Input::read(path) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    let opts = MergeOptions {
        force: args.force,
        ..MergeOptions::default()
    };
    let mut merged = match merge_reports(&inputs, &opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(e) = cicada::stats::report::rejudge(&mut merged.report, &merged.row_histograms) {
        eprintln!("error: a report's threshold does not parse: {e}");
        return exit::BAD_INPUT;
    }
    let report = merged.report;
    eprintln!(
        "cicada: merged {} report(s): {} requests from {}",
        inputs.len(),
        report.aggregated.requests,
        report.run.machine.hostname
    );
    print!("{}", summary::render(&report, !args.quiet));
    let outputs = OutputOptions {
        json: args.json,
        html: args.html,
        csv_prefix: args.csv,
        junit: args.junit,
    };
    let errors = write_outputs(&report, &outputs);
    for e in &errors {
        eprintln!("error: {e}");
    }
    if !errors.is_empty() {
        exit::INTERNAL
    } else {
        i32::from(report.verdict.exit_code())
    }
}
