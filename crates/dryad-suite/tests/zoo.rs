//! The zoo of planted bottlenecks: one end-to-end case per known cause, each running a real
//! dryad (with the setting that plants the cause) under the real `cicada run`, asserting that
//! the first warning or critical finding names the cause, with units on its evidence and a
//! next step; and a healthy case that has no warning or critical finding and says which
//! resource was the busiest. The scenarios are in `tests/load/zoo/`; `docs/analysis.md`
//! shows what each finding looks like and the results table (`ZOO_RESULTS=FILE` appends each
//! case's outcome to FILE; `ZOO_BINS=DIR` runs the zoo against the binaries in DIR).
//!
//! On this shared machine other processes may take the CPU during a case: cicada then says so
//! first (noisy neighbours), and the cause is the first warning after it ([`harness::Outcome::cause`]).

#[path = "zoo/harness.rs"]
mod harness;
mod support;

use cicada_report::analysis_model::{FindingKind, Severity};
use harness::{Case, run};

const NO_PREFIX: &[&str] = &[];

#[test]
fn zoo_healthy_run_is_quiet_and_names_the_busiest_resource() {
    let out = run(&Case {
        name: "healthy",
        scenario: "healthy.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &[],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "10", "-r", "5", "-t", "12s"],
    });
    assert_eq!(
        out.report.aggregated.failures, 0,
        "{:?}",
        out.report.failures
    );
    assert!(out.cause().is_none(), "a healthy run:\n{}", out.listing());
    let quiet = out
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::NoBottleneck)
        .unwrap_or_else(|| panic!("no 'no bottleneck' finding:\n{}", out.listing()));
    assert_eq!(quiet.severity, Severity::Info);
    assert!(
        quiet
            .title
            .starts_with("No bottleneck at this load; the busiest resource was "),
        "{}",
        quiet.title
    );
    assert!(quiet.title.ends_with(" %"), "{}", quiet.title);
    assert!(
        out.stdout.contains("No bottleneck at this load"),
        "{}",
        out.stdout
    );
}
