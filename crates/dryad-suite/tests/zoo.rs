//! The zoo of planted bottlenecks: one end-to-end case per known cause, each running a real
//! dryad (with the setting that plants the cause) under the real `cicada run`, asserting that
//! the first warning or critical finding names the cause, with units on its evidence and a
//! next step; and a healthy case that has no warning or critical finding and says which
//! resource was the busiest. The scenarios are in `tests/load/zoo/`; `docs/analysis.md`
//! shows what each finding looks like and the results table (`ZOO_RESULTS=FILE` appends each
//! case's outcome to FILE, `ZOO_OUTPUT=FILE` the findings as cicada printed them;
//! `ZOO_BINS=DIR` runs the zoo against the binaries in DIR).
//!
//! On this shared machine other processes may take the CPU during a case: cicada then says so
//! first (noisy neighbours), and the cause is the first warning after it ([`harness::Outcome::cause`]).

#[path = "zoo/harness.rs"]
mod harness;
mod support;

use cicada_report::analysis_model::{FindingKind, Severity};
use harness::{
    Case, History, Hog, Outcome, assert_cause, run, run_login_calibrated, run_seeded, run_with,
    taskset_present,
};

const NO_PREFIX: &[&str] = &[];

/// A planted cause diagnosed the common way: the cause is of `kind`, and its title, summary,
/// next step and evidence units hold the given words.
struct Planted {
    case: Case<'static>,
    history: History,
    kind: FindingKind,
    title: &'static [&'static str],
    summary: &'static [&'static str],
    next_step: &'static [&'static str],
    units: &'static [&'static str],
}

/// Run `p` and assert its diagnosis; the outcome is returned for the case's own asserts.
fn diagnose(p: &Planted) -> Outcome {
    let out = run_seeded(&p.case, p.history, || ());
    let f = assert_cause(&out, p.kind);
    let holds = |what: &str, text: &str, words: &[&str]| {
        for w in words {
            assert!(
                text.contains(w),
                "{}: the {what} names {w:?}: {text}",
                p.case.name
            );
        }
    };
    holds("title", &f.title, p.title);
    holds("summary", &f.summary, p.summary);
    holds("next step", &f.next_step, p.next_step);
    for unit in p.units {
        assert!(
            f.evidence.iter().any(|e| e.unit == *unit),
            "{}: no evidence in {unit}: {:?}",
            p.case.name,
            f.evidence
        );
    }
    out
}

/// A quiet run: no failure, no warning or critical finding, and "no bottleneck at this load;
/// the busiest resource was X at Y %", in the report and on the terminal.
fn assert_quiet(out: &Outcome) {
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
fn zoo_healthy_run_is_quiet_and_names_the_busiest_resource() {
    let out = run(&Case::new(
        "healthy",
        "healthy.toml",
        &[],
        &["-u", "10", "-r", "5", "-t", "12s"],
    ));
    assert_quiet(&out);
}

const POOL_TOO_SMALL: Planted = Planted {
    case: Case::new(
        "pool-too-small",
        "pool-too-small.toml",
        &["--pool-size", "1"],
        &["-u", "8", "-r", "8", "-t", "10s"],
    ),
    history: History::SMALL,
    kind: FindingKind::ConnectionPoolSaturated,
    title: &[],
    summary: &[],
    next_step: &["pool"],
    units: &["ms"],
};

#[test]
fn zoo_pool_too_small() {
    diagnose(&POOL_TOO_SMALL);
}

#[test]
fn zoo_app_internal_queue() {
    let out = run(&Case::new(
        "app-queue",
        "logins.toml",
        &["--hash-concurrency", "1"],
        &["-u", "8", "-r", "2", "-t", "12s"],
    ));
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
    // Closed model: a login waits behind at most (users - 1) others. The timeout is 10 ×
    // one uncontended login on this dryad (measured first), so it is reached past about 10
    // users, on a fast machine or a slow one; the 2 users of the first second stay well below.
    let out = run_login_calibrated(
        &Case::new(
            "errors-under-load",
            "logins-timeout.toml",
            &["--hash-concurrency", "1"],
            &["-u", "40", "-r", "2", "-t", "14s"],
        ),
        10.0,
    );
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
    let out = run(&Case::new(
        "wrong-path",
        "wrong-path.toml",
        &[],
        &["-u", "5", "-r", "5", "-t", "8s"],
    ));
    let f = assert_cause(&out, FindingKind::ErrorsFromStart);
    assert!(f.summary.contains("HTTP 404"), "{}", f.summary);
    assert!(f.title.contains("/api/v1/agent"), "{}", f.title);
    assert!(f.next_step.contains("path"), "{}", f.next_step);
}

const WRITE_LOCK: Planted = Planted {
    case: Case::new(
        "write-lock",
        "writes.toml",
        &[],
        &["-u", "16", "-r", "16", "-t", "10s"],
    ),
    history: History::SMALL,
    kind: FindingKind::WriteLockContention,
    title: &[],
    summary: &[],
    next_step: &[],
    units: &[],
};

#[test]
fn zoo_write_lock_contention() {
    diagnose(&WRITE_LOCK);
}

#[test]
fn zoo_noisy_neighbours() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = run_with(
        &Case::new(
            "noisy-neighbours",
            "healthy.toml",
            &[],
            &["-u", "10", "-r", "5", "-t", "12s"],
        ),
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

/// Many agents with a modest history each, 300,000 rows in all: listing one agent's
/// executions without the index scans every row (50,000 rows took 20 ms a request in a debug
/// build on a quiet machine — just at the slow-query limit — and 250 ms on a busy one), while
/// with the index it reads that agent's 1,000 (its page and its count). Few agents with long
/// histories would not do: the indexed count of 100,000 rows is itself a slow query.
const LONG_HISTORY: History = History {
    agents: 300,
    executions_per_agent: 1_000,
};

const MISSING_INDEX: Planted = Planted {
    case: Case::new(
        "missing-index",
        "missing-index.toml",
        &["--fault", "missing-index"],
        // Two users with think time: the scans keep about one core of two busy, so the
        // target is slow in its queries, not short of CPU or of connections.
        &["-u", "2", "-r", "2", "-t", "15s"],
    ),
    history: LONG_HISTORY,
    kind: FindingKind::SlowQuery,
    title: &["/executions", "ms of queries per request"],
    summary: &["in database queries"],
    next_step: &["index"],
    units: &["ms", "%"],
};

#[test]
fn zoo_missing_index() {
    diagnose(&MISSING_INDEX);
}

/// The same scenario and history with the indexes in place: the history route is fast and
/// nothing is a slow query.
#[test]
fn zoo_missing_index_control_with_the_index_is_not_a_slow_query() {
    let mut case = MISSING_INDEX.case;
    case.name = "missing-index-control";
    case.dryad_args = &[];
    let out = run_seeded(&case, LONG_HISTORY, || ());
    assert!(
        out.findings()
            .iter()
            .all(|f| f.kind != FindingKind::SlowQuery),
        "{}",
        out.listing()
    );
}

const MEMORY_LEAK: Planted = Planted {
    case: Case::new(
        "memory-leak",
        "leak.toml",
        &["--fault", "leak:route=/health,bytes=32768"],
        &["-u", "4", "-r", "4", "-t", "20s"],
    ),
    history: History::SMALL,
    kind: FindingKind::MemoryGrowth,
    title: &["memory grows at constant load", "MiB/min"],
    summary: &["MiB/min"],
    next_step: &["leak"],
    units: &["MiB/min", "MiB"],
};

#[test]
fn zoo_memory_leak() {
    let out = diagnose(&MEMORY_LEAK);
    let f = assert_cause(&out, FindingKind::MemoryGrowth);
    assert_eq!(f.severity, Severity::Warning, "{}", out.listing());
}

/// The leak's allocations into a cache bounded at 16 MiB: RSS grows while it fills, then
/// levels off. Not a memory warning (information at most), and the run is quiet.
#[test]
fn zoo_cache_that_levels_off_is_quiet() {
    let out = run(&Case {
        name: "cache-levels-off",
        dryad_args: &["--fault", "cache:route=/health,bytes=32768,max-mb=16"],
        ..MEMORY_LEAK.case
    });
    assert!(
        out.findings()
            .iter()
            .all(|f| f.kind != FindingKind::MemoryGrowth || f.severity == Severity::Info),
        "{}",
        out.listing()
    );
    assert_quiet(&out);
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
