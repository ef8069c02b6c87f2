//! One file per subcommand; [`dispatch`] runs the chosen one and returns its exit code.

pub mod capacity;
pub mod check;
pub mod compare;
pub mod import;
pub mod merge;
pub mod report;
pub mod run;
mod run_dist;
mod run_web;

use cicada::launch::LaunchOptions;
use cicada::scenario::{CompileOptions, LoadSpec, StageSpec};

use crate::cli::{Cli, Command, LoadArgs};

/// Run a subcommand to completion; returns the process exit code.
pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Check(args) => check::check(args),
        Command::Capacity(args) => capacity::capacity(*args),
        Command::Report(args) => report::report(args),
        Command::Compare(args) => compare::compare(args),
        Command::Import(args) => import::import(args),
        Command::Merge(args) => merge::merge(args),
    }
}

/// Map the shared flags into the library's launch options.
pub fn launch_options(scenario: &std::path::Path, load: &LoadArgs) -> LaunchOptions {
    let stages = |list: &[(std::time::Duration, f64)]| {
        list.iter()
            .map(|(duration, target)| StageSpec {
                duration: *duration,
                target: *target,
            })
            .collect()
    };
    LaunchOptions {
        scenario_path: scenario.to_path_buf(),
        host: load.host.clone(),
        load: LoadSpec {
            users: load.users,
            spawn_rate: load.spawn_rate,
            run_time: load.run_time,
            iterations: load.iterations,
            stages: stages(&load.stages),
            rate: load.rate,
            rate_stages: stages(&load.rate_stages),
            max_concurrency: load.max_concurrency,
        },
        compile: CompileOptions {
            tags: load.tags.clone(),
            exclude_tags: load.exclude_tags.clone(),
            thresholds: load.thresholds.clone(),
        },
        segment: cicada::launch::SegmentFlags {
            segment: load.execution_segment.clone(),
            sequence: load.execution_segment_sequence.clone(),
        },
        ..LaunchOptions::default()
    }
}

/// Run `command` (given the number of runtime workers) on a fresh [`runtime`] and return its
/// exit code; a runtime that cannot start is an internal error.
pub fn block_on<F>(command: impl FnOnce(usize) -> F) -> i32
where
    F: std::future::Future<Output = i32>,
{
    match runtime() {
        Ok((rt, workers)) => rt.block_on(command(workers)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            crate::exit::INTERNAL
        }
    }
}

/// Build the runtime: one worker per core available to the process (its CPU affinity counts),
/// and with a single core the current-thread scheduler, which skips cross-thread work stealing.
pub fn runtime() -> std::io::Result<(tokio::runtime::Runtime, usize)> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    };
    Ok((rt, workers))
}
