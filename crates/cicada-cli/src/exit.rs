//! Exit codes of `cicada` (documented in `--help` and `docs/scenario.md`).

/// Run finished and every threshold passed (or `check` found the scenario valid).
pub const PASS: i32 = 0;
/// Run finished and at least one threshold failed, or (by default, `--exit-code-on-error`)
/// a request failed that no error threshold allows.
pub const THRESHOLDS_FAILED: i32 = 1;
/// Bad input: scenario file, flag values, load plan. Nothing was sent.
pub const BAD_INPUT: i32 = 2;
/// The target did not answer before the run. Nothing was sent.
pub const UNREACHABLE: i32 = 3;
/// Internal error, or a report file could not be written.
pub const INTERNAL: i32 = 4;
/// Stopped by Ctrl-C / SIGTERM; every requested report was still written.
pub const INTERRUPTED: i32 = 130;

/// The exit-code table for `--help`.
pub const HELP: &str = "Exit codes:
  0    run passed (every threshold met) / check: scenario valid
  1    run failed: a threshold failed, or a request failed that no error threshold
       (error_rate, failures) allows; --exit-code-on-error N changes the latter's code
  2    bad input (scenario file, flags, load plan); nothing was sent
  3    target unreachable before the run; nothing was sent
  4    internal error, or a report file could not be written
  130  interrupted by Ctrl-C or SIGTERM (reports still written)";
