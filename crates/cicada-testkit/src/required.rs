//! Tests that need a tool (Chromium, `taskset`, nginx, PostgreSQL) cannot pass silently.
//!
//! Without the tool such a test prints a loud `SKIPPED` line and returns early; with the
//! environment variable `CI` set (`.ci/run` installs every tool) it fails instead, naming the
//! tool and how to install it. Every such test goes through [`require`], so the rule is the
//! same everywhere.
//!
//! ```
//! use cicada_testkit::required::{Decision, decide};
//!
//! // Found: the test runs, CI or not.
//! assert_eq!(decide(true, Some(7)), Decision::Run(7));
//! // Missing on a laptop: skipped, loudly.
//! assert_eq!(decide::<u8>(false, None), Decision::Skip);
//! // Missing under CI: the test fails.
//! assert_eq!(decide::<u8>(true, None), Decision::Fail);
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What a test does about a tool it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<T> {
    /// The tool is there: run, with it.
    Run(T),
    /// Missing, outside CI: skip, saying so.
    Skip,
    /// Missing under CI: fail.
    Fail,
}

/// The rule: run with what was found; else fail under CI, skip elsewhere.
pub fn decide<T>(ci: bool, found: Option<T>) -> Decision<T> {
    match (found, ci) {
        (Some(t), _) => Decision::Run(t),
        (None, true) => Decision::Fail,
        (None, false) => Decision::Skip,
    }
}

/// Whether the environment variable `CI` is set.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// `found` when the tool is there. Otherwise, with `CI` set, panics (the test fails) naming
/// `tool` and `install`; without, prints a loud `SKIPPED` line and returns `None` (the test
/// returns early).
pub fn require<T>(test: &str, tool: &str, install: &str, found: Option<T>) -> Option<T> {
    match decide(in_ci(), found) {
        Decision::Run(t) => Some(t),
        Decision::Fail => panic!(
            "{test} needs {tool}, which is missing; CI must install it ({install}). \
             Without CI set the test would be skipped."
        ),
        Decision::Skip => {
            // Straight to the process's stderr, not through `eprintln!`, which the test
            // harness captures (and shows only for failing tests): a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!\n!!! SKIPPED {test}: {tool} is missing ({install}); NOT tested. \
                 With CI set this fails.\n!!!!!!!!\n"
            );
            None
        }
    }
}

/// Whether `program args…` starts and exits with 0.
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `taskset` (util-linux), to pin processes to cores: whether the test may go on.
pub fn taskset(test: &str) -> bool {
    require(
        test,
        "`taskset` (util-linux)",
        "apt-get install util-linux",
        runs("taskset", &["--version"]).then_some(()),
    )
    .is_some()
}

/// Headless Chromium ([`crate::chromium::find_chromium`]; `CHROMIUM` overrides the search).
pub fn chromium(test: &str) -> Option<PathBuf> {
    require(
        test,
        "Chromium",
        "apt-get install chromium, or set CHROMIUM",
        crate::chromium::find_chromium(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_fails_under_ci_and_is_skipped_elsewhere() {
        assert_eq!(decide(false, Some("x")), Decision::Run("x"));
        assert_eq!(decide(true, Some("x")), Decision::Run("x"));
        assert_eq!(decide::<()>(true, None), Decision::Fail);
        assert_eq!(decide::<()>(false, None), Decision::Skip);
    }

    #[test]
    fn runs_tells_a_working_command_from_a_missing_one() {
        assert!(runs("true", &[]));
        assert!(!runs("false", &[]));
        assert!(!runs("/nonexistent/cicada-testkit-tool", &[]));
    }
}
