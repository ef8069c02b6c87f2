//! `cicada run --master` and `cicada run --worker`: flags in, `cicada_dist` does the work,
//! outcomes out as exit codes. The coordinator's reports and exit code are a single run's
//! (`run::finish`); a worker's end maps as documented in docs/distributed.md.

use std::sync::Arc;
use std::time::Duration;

use cicada::launch::LaunchOptions;
use cicada_dist::coordinator::run::StartFailure;
use cicada_dist::spec::Local;
use cicada_dist::{Coordinator, CoordinatorOptions, DistError, WorkerEnd, WorkerOptions};
use cicada_session::log::Stderr;
use cicada_session::signals::wait_for_signal;
use cicada_session::{SessionOptions, prepare};
use cicada_web::Steer;

use crate::cli::RunArgs;
use crate::exit;

/// Wait for every expected worker (at most `max_wait`); the exit code when the wait ends
/// otherwise (too few workers in time, Ctrl-C), the coordinator told to quit.
async fn wait_for_workers(coordinator: &Coordinator, max_wait: Option<Duration>) -> Option<i32> {
    tokio::select! {
        r = coordinator.wait_for_workers(max_wait) => match r {
            Ok(()) => None,
            Err(e) => {
                eprintln!("error: {e}");
                coordinator.quit();
                Some(exit::BAD_INPUT)
            }
        },
        () = wait_for_signal() => {
            eprintln!("cicada: interrupted while waiting for workers");
            coordinator.quit();
            Some(exit::INTERRUPTED)
        }
    }
}

/// `--master`: bind, wait for the workers, run, merge, report.
pub async fn master(args: RunArgs, options: LaunchOptions, workers: usize) -> i32 {
    if args.load.execution_segment.is_some()
        || args.load.execution_segment_sequence.is_some()
        || args.start_at.is_some()
    {
        eprintln!(
            "error: --execution-segment, --execution-segment-sequence and --start-at split a run by \
             hand; a coordinator splits its run over --expect-workers itself"
        );
        return exit::BAD_INPUT;
    }
    // Validated once here (the plan again below, or by the form with --web).
    let program = match cicada::launch::check(&options) {
        Ok(c) => c.program,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let bytes = match std::fs::read(&options.scenario_path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "error: cannot read the scenario {}: {e}",
                options.scenario_path.display()
            );
            return exit::BAD_INPUT;
        }
    };
    let d = &args.dist;
    let copts = CoordinatorOptions {
        bind_host: d.master_bind_host.clone(),
        bind_port: d.master_bind_port,
        expect_workers: d.expect_workers,
        token: d.master_auth_token.clone().filter(|t| !t.is_empty()),
        heartbeat_timeout: d.heartbeat_timeout,
        stop_on_worker_loss: d.stop_on_worker_loss,
        abort_on_threshold_fail: d.abort_on_threshold_fail,
        scenario_name: program.name.clone(),
        scenario_hash: cicada_dist::identity::scenario_hash(&bytes),
    };
    let coordinator = match Coordinator::bind(copts, Arc::new(Stderr)).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                DistError::AddrInUse { .. } | DistError::Bind { .. } => exit::INTERNAL,
                _ => exit::BAD_INPUT,
            };
        }
    };
    eprintln!(
        "cicada: coordinator listening on {} — waiting for {} worker(s): cicada run {} --worker --master-host HOST --master-port {}",
        coordinator.local_addr(),
        coordinator.expected(),
        options.scenario_path.display(),
        coordinator.local_addr().port()
    );
    let max_wait = d.expect_workers_max_wait.map(Duration::from_secs);
    if args.web.web {
        // As Locust's --autostart: the run starts once every expected worker is attached
        // (on Kubernetes the coordinator's pod starts before its workers').
        if args.web.autostart
            && let Some(code) = wait_for_workers(&coordinator, max_wait).await
        {
            return code;
        }
        return super::run_web::run_web(args, options, workers, Some(coordinator)).await;
    }
    let config = match prepare(&options, workers) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let planned = config.plan.run_time;
    if let Some(code) = wait_for_workers(&coordinator, max_wait).await {
        return code;
    }
    eprintln!(
        "cicada: target {} — {} — scenario {}",
        config.target.url,
        config.plan.describe(),
        config.program.name
    );
    let run = match coordinator.start(config).await {
        Ok(r) => r,
        Err(e) => {
            coordinator.quit();
            return match e {
                StartFailure::Unreachable(u) => {
                    eprintln!(
                        "error: {u}\n(nothing was sent; start the target, fix -H/--host, or pass --allow-unreachable)"
                    );
                    exit::UNREACHABLE
                }
                StartFailure::Dist(d) => {
                    eprintln!("error: {d}");
                    exit::BAD_INPUT
                }
            };
        }
    };
    let signals = {
        let run = run.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("\ncicada: stopping the workers (Ctrl-C again to quit at once)");
            run.stop();
            wait_for_signal().await;
            std::process::exit(exit::INTERRUPTED);
        })
    };
    let status = (!args.quiet).then(|| {
        tokio::spawn(super::run::live_view(
            run.clone(),
            planned,
            cicada_dist::status::worker_lines,
        ))
    });
    let finished = run.finish().await;
    signals.abort();
    if let Some(s) = status {
        s.abort();
    }
    coordinator.quit();
    // The quit reaches the workers before this process exits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    match &finished.failure {
        None => super::run::finish(&args, &finished.report),
        Some(message) => {
            eprintln!("error: the run failed: {message}; writing the partial report");
            super::run::finish(&args, &finished.report);
            exit::INTERNAL
        }
    }
}

/// `--worker`: attach, run what the coordinator sends, write the report when it is lost.
pub async fn worker(args: RunArgs, workers: usize) -> i32 {
    let ignored: Vec<&str> = [
        (args.load.users.is_some(), "-u/--users"),
        (args.load.spawn_rate.is_some(), "-r/--spawn-rate"),
        (args.load.rate.is_some(), "--rate"),
        (!args.load.rate_stages.is_empty(), "--rate-stage"),
        (args.load.max_concurrency.is_some(), "--max-concurrency"),
        (!args.load.tags.is_empty(), "-T/--tags"),
        (!args.load.exclude_tags.is_empty(), "-E/--exclude-tags"),
        (args.seed.is_some(), "--seed"),
        (args.stop_timeout.is_some(), "--stop-timeout"),
        (args.exit_code_on_error.is_some(), "--exit-code-on-error"),
        (args.insecure, "-k/--insecure"),
        (args.allow_unreachable, "--allow-unreachable"),
        (args.load.run_time.is_some(), "-t/--run-time"),
        (args.load.iterations.is_some(), "--iterations"),
        (!args.load.stages.is_empty(), "--stage"),
        (args.load.host.is_some(), "-H/--host"),
        (!args.load.thresholds.is_empty(), "--threshold"),
        (args.html.is_some(), "--html"),
        (args.csv.is_some(), "--csv"),
        (args.junit.is_some(), "--junit"),
        (args.load.execution_segment.is_some(), "--execution-segment"),
        (args.start_at.is_some(), "--start-at"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect();
    if !ignored.is_empty() {
        eprintln!(
            "warning: {} ignored on a worker: the coordinator sends the run's options and writes its reports",
            ignored.join(", ")
        );
    }
    let local_addrs = match args
        .local_ips
        .as_deref()
        .map(cicada::http::parse_local_addrs)
    {
        None => Vec::new(),
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let d = &args.dist;
    let opts = WorkerOptions {
        master_host: d.master_host.clone(),
        master_port: d.master_port,
        token: d.master_auth_token.clone().filter(|t| !t.is_empty()),
        heartbeat_timeout: d.heartbeat_timeout,
        json: args.json.clone(),
        local: Local {
            worker_threads: workers,
            local_addrs,
        },
        session: SessionOptions {
            target: args.target.spec(),
            analysis: args.analysis.options(),
        },
        ..WorkerOptions::new(&args.scenario, d.master_host.clone())
    };
    match cicada_dist::run_worker(opts, Arc::new(Stderr), wait_for_signal()).await {
        Ok(WorkerEnd::Quit { runs }) => {
            eprintln!("cicada: the coordinator is done ({runs} run(s)); exiting");
            exit::PASS
        }
        Ok(WorkerEnd::Interrupted) => exit::INTERRUPTED,
        Ok(WorkerEnd::CoordinatorLost {
            why,
            report,
            report_error,
        }) => {
            eprintln!("error: the coordinator was lost: {why}");
            if let Some(path) = report {
                eprintln!(
                    "cicada: this worker's own report of the run: {}",
                    path.display()
                );
            }
            if let Some(e) = report_error {
                eprintln!("error: this worker's report could not be written: {e}");
            }
            exit::INTERNAL
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                DistError::Connect { .. }
                | DistError::Handshake { .. }
                | DistError::HandshakeTimeout { .. } => exit::UNREACHABLE,
                _ => exit::BAD_INPUT,
            }
        }
    }
}
