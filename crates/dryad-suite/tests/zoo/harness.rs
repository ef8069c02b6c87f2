//! Running one zoo case: a seeded scratch directory, dryad started with the case's settings
//! (and prefix, e.g. `taskset -c 0`), the case's scenario from `tests/load/zoo/`, the real
//! `cicada run` with the target's PID and `/metrics` scrape, and the report it wrote.
//!
//! Cases run one at a time (a lock file in the temp directory), whether the harness runs them
//! as threads of one binary (`cargo test`) or as processes (`cargo nextest`): each one plants a
//! single cause, and two at once would plant each other's.

#![allow(dead_code)] // the cases use different parts

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use cicada_report::RunReport;
use cicada_report::analysis_model::{Finding, FindingKind, Severity};

use crate::support::{Bins, Dryad, Scratch, bins, cicada_run, text};

/// The kinds that question the run itself (as `cicada_analysis::findings::policy` ranks them).
fn questions_the_run(kind: FindingKind) -> bool {
    cicada_analysis::findings::policy::questions_the_run(kind)
}

/// One planted cause.
pub struct Case<'a> {
    /// Short name, also the scratch directory's.
    pub name: &'a str,
    /// File name under `tests/load/zoo/`.
    pub scenario: &'a str,
    /// Runs before `dryad` (e.g. `["taskset", "-c", "0"]`).
    pub dryad_prefix: &'a [&'a str],
    /// `dryad serve` flags after `--database-url` and `--bind`.
    pub dryad_args: &'a [&'a str],
    /// Runs before `cicada` (e.g. `["taskset", "-c", "0"]`).
    pub cicada_prefix: &'a [&'a str],
    /// `cicada run` flags after `-H`: the load, its duration.
    pub cicada_args: &'a [&'a str],
    /// Give dryad a scheduling session of its own at nice -19 (`setsid`, then
    /// `/proc/PID/autogroup`), so that on a shared machine it really gets the CPU it may use:
    /// with autogroup scheduling, sessions share the CPU equally whatever their members' nice.
    /// Needs root or CAP_SYS_NICE (CI has it); without, the case runs unboosted and says so.
    pub boost_target: bool,
}

impl<'a> Case<'a> {
    /// A case without prefixes or boost: `dryad serve DRYAD_ARGS`, `cicada run SCENARIO
    /// CICADA_ARGS`.
    pub const fn new(
        name: &'a str,
        scenario: &'a str,
        dryad_args: &'a [&'a str],
        cicada_args: &'a [&'a str],
    ) -> Self {
        Case {
            name,
            scenario,
            dryad_prefix: &[],
            dryad_args,
            cicada_prefix: &[],
            cicada_args,
            boost_target: false,
        }
    }
}

/// What a case produced.
pub struct Outcome {
    pub report: RunReport,
    pub stdout: String,
    pub code: Option<i32>,
}

impl Outcome {
    pub fn findings(&self) -> &[Finding] {
        &self
            .report
            .analysis
            .as_ref()
            .expect("the report has an analysis")
            .findings
    }

    /// The findings in order, one line each, for failure messages.
    pub fn listing(&self) -> String {
        self.findings()
            .iter()
            .map(|f| {
                let evidence: Vec<String> = f
                    .evidence
                    .iter()
                    .map(|e| format!("{} {:.2} {}", e.label, e.value, e.unit))
                    .collect();
                format!(
                    "[{:?}] {:?}: {} | {} | {}",
                    f.severity,
                    f.kind,
                    f.title,
                    f.summary,
                    evidence.join("; ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first warning or critical finding.
    pub fn top(&self) -> Option<&Finding> {
        self.findings()
            .iter()
            .find(|f| f.severity >= Severity::Warning)
    }

    /// Whether the run's trust was questioned by this shared machine rather than by the
    /// planted cause: other processes took the CPU, and (because of them) the generator
    /// started iterations late while its own CPU was low.
    fn shared_machine_verdict(&self, f: &Finding) -> bool {
        let noisy = self
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::NoisyNeighbours && f.severity >= Severity::Warning);
        match f.kind {
            FindingKind::NoisyNeighbours => true,
            FindingKind::GeneratorSaturated => {
                noisy
                    && !f
                        .evidence
                        .iter()
                        .any(|e| e.label.starts_with("generator CPU"))
            }
            _ => false,
        }
    }

    /// The diagnosis of the planted cause: the first warning or critical finding that is not
    /// a verdict of this shared machine ([`Self::shared_machine_verdict`]). Such verdicts,
    /// when present, must rank before every bottleneck (the run's trust is read first), and a
    /// noisy-neighbour one must be backed by other processes' CPU in its evidence.
    pub fn cause(&self) -> Option<&Finding> {
        let warnings: Vec<&Finding> = self
            .findings()
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .collect();
        let first_bottleneck = warnings.iter().position(|f| !questions_the_run(f.kind));
        if let Some(i) = first_bottleneck {
            assert!(
                warnings[i..].iter().all(|f| !questions_the_run(f.kind)),
                "verdicts on the run's trust rank first:\n{}",
                self.listing()
            );
        }
        for f in &warnings {
            if f.kind == FindingKind::NoisyNeighbours {
                let others = f
                    .evidence
                    .iter()
                    .find(|e| e.label.starts_with("other processes' CPU"))
                    .unwrap_or_else(|| panic!("no other processes' CPU in {:?}", f.evidence));
                assert!(others.value > 0.0, "{:?}", f.evidence);
            }
        }
        warnings
            .into_iter()
            .find(|f| !self.shared_machine_verdict(f))
    }

    /// Record the case's outcome, for the results table in docs/analysis.md: a line in the
    /// file `ZOO_RESULTS` names, when set; and the findings as cicada printed them, in the
    /// file `ZOO_OUTPUT` names, when set.
    pub fn record(&self, case: &str) {
        if let Some(path) = std::env::var_os("ZOO_OUTPUT") {
            let findings = self
                .stdout
                .find("Findings (most important first):")
                .map_or("(no findings printed)\n", |i| &self.stdout[i..]);
            let mut file = File::options()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            write!(file, "== {case}\n{findings}\n").unwrap();
        }
        let Some(path) = std::env::var_os("ZOO_RESULTS") else {
            return;
        };
        let line = match self.top() {
            Some(top) => {
                let cause = self
                    .cause()
                    .map(|c| format!("{:?} ({:?}): {}", c.kind, c.severity, c.title))
                    .unwrap_or_else(|| "—".to_owned());
                format!(
                    "| {case} | {:?} ({:?}): {} | {cause} |\n",
                    top.kind, top.severity, top.title
                )
            }
            None => format!(
                "| {case} | none: {} | — |\n",
                self.findings()
                    .iter()
                    .map(|f| f.title.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let mut file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(line.as_bytes()).unwrap();
    }
}

/// The binaries: those of this build, or of the directory `ZOO_BINS` names (to run the zoo
/// against another build, e.g. main's, for a before/after comparison).
pub fn zoo_bins() -> Bins {
    match std::env::var_os("ZOO_BINS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            Bins {
                cicada: dir.join("cicada"),
                dryad: dir.join("dryad"),
            }
        }
        None => bins(),
    }
}

pub fn zoo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/zoo")
}

/// Held while a case runs.
pub struct Turn(File);

/// Wait for the machine-wide zoo lock.
pub fn turn() -> Turn {
    let file = File::create(std::env::temp_dir().join("dryad-suite-zoo.lock")).unwrap();
    file.lock().unwrap();
    Turn(file)
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The history a case's database is seeded with: agents × executions per agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub agents: u32,
    pub executions_per_agent: u32,
}

impl History {
    /// What most cases need: 20 agents × 5 executions.
    pub const SMALL: History = History {
        agents: 20,
        executions_per_agent: 5,
    };
}

/// Run `case` (taking the zoo lock), with `during` started after dryad is ready and dropped
/// when cicada has finished (e.g. CPU hogs).
pub fn run_with<T>(case: &Case<'_>, during: impl FnOnce() -> T) -> Outcome {
    run_seeded(case, History::SMALL, during)
}

/// [`run_with`] over a database seeded with `history`.
pub fn run_seeded<T>(case: &Case<'_>, history: History, during: impl FnOnce() -> T) -> Outcome {
    run_inner(case, history, None, during)
}

/// [`run`] with the scenario's `request_timeout` set to `factor` × one uncontended login on this
/// dryad, measured just before (a 3 s run of one user logging in): a queue of logins then
/// times out past about `factor` users waiting, however fast this machine hashes passwords.
pub fn run_login_calibrated(case: &Case<'_>, factor: f64) -> Outcome {
    run_inner(case, History::SMALL, Some(factor), || ())
}

/// One user logging in for 3 s against `dryad`: the median login, in ms.
fn uncontended_login_ms(bins: &Bins, scratch: &Scratch, dryad: &Dryad) -> f64 {
    let logins = std::fs::read_to_string(zoo_dir().join("logins.toml")).unwrap();
    std::fs::write(scratch.path("scenario.toml"), logins).unwrap();
    let out = cicada_run(bins, scratch, &["-H", &dryad.base, "--quiet"])
        .args(["-u", "1", "-r", "1", "-t", "3s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = scratch.report();
    let login = report
        .requests
        .iter()
        .find(|r| r.name == "/api/v1/auth/login")
        .expect("the calibration logged in");
    login.percentiles.p50
}

fn run_inner<T>(
    case: &Case<'_>,
    history: History,
    timeout_factor: Option<f64>,
    during: impl FnOnce() -> T,
) -> Outcome {
    let _turn = turn();
    let bins = zoo_bins();
    let scenario = std::fs::read_to_string(zoo_dir().join(case.scenario))
        .unwrap_or_else(|e| panic!("tests/load/zoo/{}: {e}", case.scenario));
    let scratch = Scratch::new(&format!("zoo-{}", case.name), &scenario);
    scratch.seed_with(&bins, history.agents, history.executions_per_agent);
    let prefix: Vec<&str> = if case.boost_target {
        std::iter::once("setsid")
            .chain(case.dryad_prefix.iter().copied())
            .collect()
    } else {
        case.dryad_prefix.to_vec()
    };
    let dryad = Dryad::start(&bins, &scratch, &prefix, case.dryad_args);
    if case.boost_target
        && let Err(e) = std::fs::write(format!("/proc/{}/autogroup", dryad.pid()), "-19")
    {
        eprintln!(
            "zoo {}: dryad not boosted (autogroup nice -19): {e}",
            case.name
        );
    }
    if let Some(factor) = timeout_factor {
        let login_ms = uncontended_login_ms(&bins, &scratch, &dryad);
        let timeout_ms = (login_ms * factor).max(100.0).round();
        eprintln!(
            "zoo {}: one login takes {login_ms:.1} ms; request_timeout = {timeout_ms} ms",
            case.name
        );
        let calibrated = set_request_timeout(&scenario, timeout_ms);
        std::fs::write(scratch.path("scenario.toml"), calibrated).unwrap();
    }
    let pid = dryad.pid().to_string();
    let metrics = format!("{}/metrics", dryad.base);
    let run = cicada_run(&bins, &scratch, &["-H", &dryad.base, "--quiet"]);
    let mut cmd = match case.cicada_prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(run.get_program());
            c
        }
        None => Command::new(run.get_program()),
    };
    cmd.args(run.get_args())
        .args(["--target-pid", &pid, "--scrape", &metrics])
        .args(case.cicada_args)
        .stdin(Stdio::null());
    let guard = during();
    let out = cmd.output().unwrap();
    drop(guard);
    drop(dryad);
    let stdout = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0..=3)),
        "cicada failed ({:?}): {stdout}{}",
        out.status,
        text(&out.stderr)
    );
    let outcome = Outcome {
        report: scratch.report(),
        stdout,
        code: out.status.code(),
    };
    eprintln!("zoo {}:\n{}", case.name, outcome.listing());
    outcome.record(case.name);
    scratch.assert_nothing_left();
    outcome
}

/// `scenario` with its `[defaults]` `request_timeout = "..."` line set to `ms`.
fn set_request_timeout(scenario: &str, ms: f64) -> String {
    let mut found = false;
    let lines: Vec<String> = scenario
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("request_timeout") {
                found = true;
                format!("request_timeout = \"{ms}ms\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert!(found, "the calibrated scenario sets request_timeout");
    lines.join("\n") + "\n"
}

pub fn run(case: &Case<'_>) -> Outcome {
    run_with(case, || ())
}

/// A busy loop, optionally pinned to `core`, bounded by `timeout` whatever happens to the
/// test; stopped (SIGTERM, which `timeout` passes on) when dropped.
pub struct Hog(Child);

impl Hog {
    pub fn start(core: Option<&str>) -> Self {
        let mut cmd = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.args(["-c", core, "timeout"]);
                c
            }
            None => Command::new("timeout"),
        };
        let child = cmd
            .args(["120", "sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .expect("the busy loop starts");
        Hog(child)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

/// Whether `taskset` (util-linux) can run; with `CI` set its absence fails the test
/// ([`cicada_testkit::required`]).
pub fn taskset_present(test: &str) -> bool {
    cicada_testkit::required::taskset(test)
}

/// Assert the planted cause is the diagnosis: the first warning/critical finding (after a
/// noisy-neighbour verdict this shared machine may add) is of `kind`.
pub fn assert_cause(outcome: &Outcome, kind: FindingKind) -> &Finding {
    let cause = outcome
        .cause()
        .unwrap_or_else(|| panic!("no warning or critical finding:\n{}", outcome.listing()));
    assert_eq!(cause.kind, kind, "\n{}", outcome.listing());
    for e in &cause.evidence {
        assert!(!e.unit.is_empty(), "{} has no unit", e.label);
    }
    assert!(!cause.next_step.is_empty());
    cause
}
