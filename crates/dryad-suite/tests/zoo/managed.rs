//! Zoo cases whose dryad cicada starts itself (`--target-cmd`), through a wrapper: a shell
//! that does not exec it, `taskset`, a restart loop. The target is then sampled as its process
//! tree, which is what these cases test.

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Outcome, turn, zoo_bins, zoo_dir};
use crate::support::{Scratch, cicada_run, free_port};

/// One planted cause with a managed target.
pub struct ManagedCase<'a> {
    pub name: &'a str,
    /// File name under `tests/load/zoo/`.
    pub scenario: &'a str,
    /// The `--target-cmd` given the dryad binary and its `serve` flags (database, bind).
    pub target_cmd: &'a dyn Fn(&str, &str) -> String,
    /// Runs before `cicada` (e.g. `["taskset", "-c", "1"]`).
    pub cicada_prefix: &'a [&'a str],
    /// `cicada run` flags: the load, its duration.
    pub cicada_args: &'a [&'a str],
    /// Give dryad nice -19 through its session's autogroup, so that on a shared machine it
    /// gets the CPU it may use. A managed target stays in cicada's session (its process group
    /// is its own, its session is not: a `setsid` would put it out of reach of cicada's stop),
    /// which is this test's, so the boost is undone when the case ends. Needs root or
    /// CAP_SYS_NICE; without, the case runs unboosted and says so.
    pub boost_target: bool,
}

/// Quote `s` for `sh -c`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Run `case`: cicada starts dryad with the case's command, waits for `/ready`, scrapes
/// `/metrics`, and stops the whole tree at the end.
pub fn run_managed(case: &ManagedCase<'_>) -> Outcome {
    let _turn = turn();
    let bins = zoo_bins();
    let scenario = std::fs::read_to_string(zoo_dir().join(case.scenario))
        .unwrap_or_else(|e| panic!("tests/load/zoo/{}: {e}", case.scenario));
    let scratch = Scratch::new(&format!("zoo-{}", case.name), &scenario);
    scratch.seed(&bins);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = format!(
        "serve --database-url {} --bind 127.0.0.1:{port}",
        sh_quote(&scratch.database_url())
    );
    let target_cmd = (case.target_cmd)(&bins.dryad.display().to_string(), &serve);
    let log = scratch.path("target.log");
    let run = cicada_run(&bins, &scratch, &["-H", &base, "--quiet"]);
    let mut cmd = match case.cicada_prefix.split_first() {
        Some((program, args)) => {
            let mut c = std::process::Command::new(program);
            c.args(args).arg(run.get_program());
            c
        }
        None => std::process::Command::new(run.get_program()),
    };
    cmd.args(run.get_args())
        .args(["--target-cmd", &target_cmd])
        .args(["--target-ready", &format!("{base}/ready")])
        .arg("--target-log")
        .arg(&log)
        .args(["--scrape", &format!("{base}/metrics")])
        .args(case.cicada_args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let unboost = case
        .boost_target
        .then(|| boost(&scratch, case.name))
        .flatten();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    if let Some((path, before)) = unboost {
        let _ = std::fs::write(path, before);
    }
    assert!(
        matches!(status.code(), Some(0..=3)),
        "cicada failed ({status:?}): {stdout}{stderr}\ntarget log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let outcome = Outcome {
        report: scratch.report(),
        stdout,
        code: status.code(),
    };
    eprintln!("zoo {}:\n{}", case.name, outcome.listing());
    outcome.record(case.name);
    scratch.assert_nothing_left();
    outcome
}

/// Once dryad is up, set its session's autogroup to nice -19; returns the file and the nice
/// value to put back.
fn boost(scratch: &Scratch, name: &str) -> Option<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        for pid in scratch.processes() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "dryad" {
                let path = format!("/proc/{pid}/autogroup");
                // "/autogroup-123 nice 0"
                let before = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.split_whitespace().last().map(str::to_owned))
                    .unwrap_or_else(|| "0".to_owned());
                if let Err(e) = std::fs::write(&path, "-19") {
                    eprintln!("zoo {name}: dryad not boosted (autogroup nice -19): {e}");
                    return None;
                }
                return Some((format!("/proc/{}/autogroup", std::process::id()), before));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("zoo {name}: dryad not seen, not boosted");
    None
}
