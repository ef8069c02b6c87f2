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
use harness::{Case, Hog, assert_cause, run, run_with, taskset_present};

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
        boost_target: false,
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
#[test]
fn zoo_pool_too_small() {
    let out = run(&Case {
        name: "pool-too-small",
        scenario: "pool-too-small.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &["--pool-size", "1"],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "8", "-r", "8", "-t", "10s"],
        boost_target: false,
    });
    let f = assert_cause(&out, FindingKind::ConnectionPoolSaturated);
    assert!(f.next_step.contains("pool"), "{}", f.next_step);
}

#[test]
fn zoo_app_internal_queue() {
    let out = run(&Case {
        name: "app-queue",
        scenario: "logins.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &["--hash-concurrency", "1"],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "8", "-r", "2", "-t", "12s"],
        boost_target: false,
    });
    let f = assert_cause(&out, FindingKind::AppQueue);
    assert!(f.title.contains("/api/v1/auth/login"), "{}", f.title);
    // App-bound, not the database.
    assert!(
        out.findings()
            .iter()
            .all(|f| f.kind != FindingKind::DatabaseBound || f.severity == Severity::Info),
        "{}",
        out.listing()
    );
}

#[test]
fn zoo_target_short_of_cpu() {
    if !taskset_present("zoo_target_short_of_cpu") {
        return;
    }
    let out = run(&Case {
        name: "target-short-of-cpu",
        scenario: "logins.toml",
        dryad_prefix: &["taskset", "-c", "0"],
        dryad_args: &["--hash-concurrency", "2"],
        cicada_prefix: &["taskset", "-c", "1"],
        cicada_args: &["-u", "8", "-r", "1", "-t", "12s"],
        boost_target: true,
    });
    let f = assert_cause(&out, FindingKind::TargetCpuBound);
    assert!(
        f.summary.contains("1 core"),
        "the affinity limit is named: {}",
        f.summary
    );
}

#[test]
fn zoo_errors_under_load() {
    let out = run(&Case {
        name: "errors-under-load",
        scenario: "logins-timeout.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &["--hash-concurrency", "1"],
        cicada_prefix: NO_PREFIX,
        // Closed model: a login waits behind at most (users - 1) others, so the 400 ms timeout
        // is reached only past 400 ms / hash time users — about 20 at this machine's ~20 ms
        // hash when quiet, fewer when busy; 4 users in the first second stay well below it.
        cicada_args: &["-u", "40", "-r", "4", "-t", "14s"],
        boost_target: false,
    });
    let f = assert_cause(&out, FindingKind::ErrorOnset);
    assert!(f.title.starts_with("Errors begin at"), "{}", f.title);
}

#[test]
fn zoo_errors_from_the_first_request_bad_credentials() {
    let out = run(&Case {
        name: "bad-credentials",
        scenario: "bad-credentials.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &[],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "5", "-r", "5", "-t", "8s"],
        boost_target: false,
    });
    let f = assert_cause(&out, FindingKind::ErrorsFromStart);
    assert!(f.summary.contains("HTTP 401"), "{}", f.summary);
    assert!(f.next_step.contains("credentials"), "{}", f.next_step);
    assert!(
        out.findings()
            .iter()
            .all(|f| f.kind != FindingKind::ErrorOnset),
        "not 'errors begin under load':\n{}",
        out.listing()
    );
}

#[test]
fn zoo_errors_from_the_first_request_wrong_path() {
    let out = run(&Case {
        name: "wrong-path",
        scenario: "wrong-path.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &[],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "5", "-r", "5", "-t", "8s"],
        boost_target: false,
    });
    let f = assert_cause(&out, FindingKind::ErrorsFromStart);
    assert!(f.summary.contains("HTTP 404"), "{}", f.summary);
    assert!(f.title.contains("/api/v1/agent"), "{}", f.title);
    assert!(f.next_step.contains("path"), "{}", f.next_step);
}

#[test]
fn zoo_write_lock_contention() {
    let out = run(&Case {
        name: "write-lock",
        scenario: "writes.toml",
        dryad_prefix: NO_PREFIX,
        dryad_args: &[],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "16", "-r", "16", "-t", "10s"],
        boost_target: false,
    });
    assert_cause(&out, FindingKind::WriteLockContention);
}

#[test]
fn zoo_noisy_neighbours() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = run_with(
        &Case {
            name: "noisy-neighbours",
            scenario: "healthy.toml",
            dryad_prefix: NO_PREFIX,
            dryad_args: &[],
            cicada_prefix: NO_PREFIX,
            cicada_args: &["-u", "10", "-r", "5", "-t", "12s"],
            boost_target: false,
        },
        // One busy loop per core, plus one: the machine is full of work that is neither the
        // target nor the generator.
        || (0..=cores).map(|_| Hog::start(None)).collect::<Vec<_>>(),
    );
    let top = out
        .top()
        .unwrap_or_else(|| panic!("no warning:\n{}", out.listing()));
    assert_eq!(
        top.kind,
        FindingKind::NoisyNeighbours,
        "\n{}",
        out.listing()
    );
    assert!(top.summary.contains("unreliable"), "{}", top.summary);
}

#[test]
fn zoo_generator_short_of_cpu() {
    if !taskset_present("zoo_generator_short_of_cpu") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dryad_core: &[&str] = if cores > 1 {
        &["taskset", "-c", "1"]
    } else {
        NO_PREFIX
    };
    let out = run_with(
        &Case {
            name: "generator-short-of-cpu",
            scenario: "health.toml",
            dryad_prefix: dryad_core,
            dryad_args: &[],
            cicada_prefix: &["taskset", "-c", "0"],
            cicada_args: &["--rate", "1500", "--max-concurrency", "200", "-t", "8s"],
            boost_target: false,
        },
        || (0..3).map(|_| Hog::start(Some("0"))).collect::<Vec<_>>(),
    );
    let top = out
        .top()
        .unwrap_or_else(|| panic!("no warning:\n{}", out.listing()));
    assert_eq!(
        top.kind,
        FindingKind::GeneratorSaturated,
        "\n{}",
        out.listing()
    );
}

#[test]
fn zoo_concurrency_cap_with_a_slow_target() {
    let out = run(&Case {
        name: "concurrency-cap",
        scenario: "logins.toml",
        dryad_prefix: NO_PREFIX,
        // A planted 100 ms on every login: 60 logins/s need at least 6 in flight, whatever
        // the machine's hash speed, against a cap of 4.
        dryad_args: &["--fault", "latency:route=/api/v1/auth/login,ms=100"],
        cicada_prefix: NO_PREFIX,
        cicada_args: &["--rate", "60", "--max-concurrency", "4", "-t", "10s"],
        boost_target: false,
    });
    let f = assert_cause(&out, FindingKind::ConcurrencyCapReached);
    assert!(f.summary.contains("answered slowly") || f.title.contains("answered slowly"));
    // Not a saturated generator: it had CPU to spare, and the dropped iterations are not
    // blamed on it (on this shared machine it may still start iterations late, which it
    // then says, beside the other processes that took its CPU).
    let health = out
        .report
        .analysis
        .as_ref()
        .and_then(|a| a.generator_health.as_ref())
        .unwrap();
    assert!(
        health.reasons.iter().all(|r| !r.contains("dropped")),
        "{:?}",
        health.reasons
    );
    if !health.healthy {
        assert!(
            out.findings()
                .iter()
                .any(|f| f.kind == FindingKind::NoisyNeighbours),
            "{}\n{}",
            health.verdict,
            out.listing()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Managed targets behind wrappers: whole-tree tracking, the CPU limit, a restart (issue #10,
// items 1 and 3). dryad is started by cicada (`--target-cmd`), so it is sampled as its tree.
// ---------------------------------------------------------------------------------------------

#[path = "zoo/managed.rs"]
mod managed;

use managed::{ManagedCase, run_managed, sh_quote};

#[test]
fn zoo_target_short_of_cpu_under_a_wrapper_names_the_cpu_limit() {
    if !taskset_present("zoo_target_short_of_cpu_under_a_wrapper_names_the_cpu_limit") {
        return;
    }
    // `sh -c '…; true'` does not exec dryad: only the tree shows its CPU.
    let cmd = |dryad: &str, serve: &str| {
        format!(
            "taskset -c 0 sh -c {}",
            sh_quote(&format!(
                "{dryad} {serve} --fault cpu:route=/health,ms=20; true"
            ))
        )
    };
    let out = run_managed(&ManagedCase {
        name: "cpu-limit-wrapper",
        scenario: "cpu-route.toml",
        target_cmd: &cmd,
        cicada_prefix: &["taskset", "-c", "1"],
        cicada_args: &["-u", "8", "-r", "1", "-t", "14s"],
        boost_target: true,
    });
    let target = out
        .report
        .analysis
        .as_ref()
        .and_then(|a| a.resources.as_ref())
        .and_then(|r| r.target.as_ref())
        .expect("the target was sampled");
    let cpu: Vec<String> = target
        .samples
        .iter()
        .map(|s| format!("{:.0}", s.cpu_available_pct))
        .collect();
    eprintln!("target CPU (% of its limit) per second: {}", cpu.join(" "));
    assert!(target.tree, "a managed target is sampled as its tree");
    let limit = target.cpu_limit.as_ref().expect("the CPU limit was read");
    assert_eq!(limit.describe(), "1 core allowed (affinity 0)");
    let f = assert_cause(&out, FindingKind::TargetCpuBound);
    assert!(
        f.title.contains("1 core allowed (affinity 0)"),
        "the limit is named: {}",
        f.title
    );
    assert!(
        out.stdout.contains("1 core allowed (affinity 0) — used "),
        "{}",
        out.stdout
    );
}

#[test]
fn zoo_target_restarting_mid_run() {
    let cmd = |dryad: &str, serve: &str| {
        format!(
            "sh -c {}",
            sh_quote(&format!(
                "while :; do {dryad} {serve} --jwt-secret zoo-restart \
                 --fault crash:after-secs=4; done"
            ))
        )
    };
    let out = run_managed(&ManagedCase {
        name: "restarting",
        scenario: "restarting.toml",
        target_cmd: &cmd,
        cicada_prefix: NO_PREFIX,
        cicada_args: &["-u", "5", "-r", "5", "-t", "12s"],
        boost_target: false,
    });
    let first = out
        .findings()
        .first()
        .unwrap_or_else(|| panic!("no findings:\n{}", out.listing()));
    assert_eq!(
        first.kind,
        FindingKind::TargetRestarted,
        "first finding:\n{}",
        out.listing()
    );
    assert_eq!(first.severity, Severity::Critical);
    assert!(
        first.title.starts_with("The target restarted"),
        "{}",
        first.title
    );
    assert!(first.summary.contains("dryad (pid "), "{}", first.summary);
    assert!(
        first.summary.contains("requests failed"),
        "{}",
        first.summary
    );
    assert!(first.next_step.contains("OOM"), "{}", first.next_step);
    let failed = first
        .evidence
        .iter()
        .find(|e| e.label == "requests failed around the restarts")
        .unwrap();
    assert!(failed.value >= 1.0, "{:?}", first.evidence);
    assert!(
        out.stdout.contains("restarted: dryad pid "),
        "{}",
        out.stdout
    );
}
