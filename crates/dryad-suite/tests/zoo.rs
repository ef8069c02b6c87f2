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
    // No user got past on_start: the finding and the verdict say so first, with the request
    // that failed, its status and the first bytes of dryad's answer.
    let excerpt = "\"error\":\"invalid_credentials\"";
    assert!(
        f.title.starts_with(
            "No user got past on_start: 5 of 5 users failed POST /api/v1/auth/login with HTTP 401 {"
        ) && f.title.contains(excerpt),
        "{}",
        f.title
    );
    assert!(
        f.next_step.contains("credentials and data"),
        "{}",
        f.next_step
    );
    let users = out.report.users.as_ref().expect("users recorded");
    assert_eq!((users.spawned, users.never_started), (5, 5));
    let failed = users.failed_request.as_ref().expect("the failing request");
    assert_eq!(failed.message, "HTTP 401");
    assert!(
        failed
            .body_excerpt
            .as_deref()
            .is_some_and(|b| b.contains(excerpt)),
        "{failed:?}"
    );
    assert!(
        out.report
            .failures
            .iter()
            .all(|g| g.body_excerpt.as_deref().is_some_and(|b| b.len() <= 200)),
        "{:?}",
        out.report.failures
    );
    let reason = &out.report.verdict.reason;
    assert!(
        reason.starts_with("5 of 5 users never started their tasks: on_start failed at POST /api/v1/auth/login with HTTP 401 {") && reason.contains(excerpt),
        "{reason}"
    );
    assert_eq!(out.report.verdict.exit_code, Some(1));
    // The task row measured nothing.
    let task = out
        .report
        .requests
        .iter()
        .find(|r| r.name.ends_with("/metrics"))
        .expect("the task row");
    assert_eq!(task.requests, 0);
    assert!(!task.measured(), "{task:?}");
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
