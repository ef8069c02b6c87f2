//! `cicada run`: validate, print the target, start, show status, stop on Ctrl-C/SIGTERM, and
//! always write every requested report.

use std::io::IsTerminal;
use std::time::Duration;

use cicada::launch::{LaunchOptions, prepare};
use cicada::runner::{RunControl, RunError, Runner};
use cicada_report::live::LiveView;
use cicada_report::{OutputOptions, RunReport, write_outputs};

use crate::cli::RunArgs;
use crate::{analysis, exit, managed, summary};

/// How often the live view redraws on a terminal, and how often a status line is logged
/// otherwise.
const FRAME_EVERY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs) -> i32 {
    let mut options = super::launch_options(&args.scenario, &args.load);
    options.seed = args.seed;
    options.stop_timeout = args.stop_timeout;
    options.allow_unreachable = args.allow_unreachable;
    options.insecure = args.insecure;
    super::block_on(|workers| run_async(args, options, workers))
}

async fn run_async(args: RunArgs, options: LaunchOptions, workers: usize) -> i32 {
    let mut config = match prepare(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    config.worker_threads = workers;
    config.shards = workers * 4;
    let planned = config.plan.run_time;
    eprintln!(
        "cicada: target {} — {} — scenario {}",
        config.target.url,
        config.plan.describe(),
        config.program.name
    );
    let target = match managed::start(&args.target, wait_for_signal()).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let plan = match analysis::Plan::new(&args.analysis, target.as_ref().map(|t| t.pid())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            managed::stop(target).await;
            return exit::BAD_INPUT;
        }
    };
    let handle = match Runner::start(config).await {
        Ok(h) => h,
        Err(RunError::Unreachable(e)) => {
            eprintln!(
                "error: {e}\n(nothing was sent; start the target, fix -H/--host, or pass --allow-unreachable)"
            );
            managed::stop(target).await;
            return exit::UNREACHABLE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            managed::stop(target).await;
            return exit::INTERNAL;
        }
    };
    let control = handle.control();
    let traffic_started = std::time::Instant::now()
        .checked_sub(control.elapsed())
        .unwrap_or_else(std::time::Instant::now);
    let monitor = match plan.start(traffic_started) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            control.force_stop();
            let _ = handle.wait().await;
            managed::stop(target).await;
            return exit::BAD_INPUT;
        }
    };
    let signals = tokio::spawn(stop_on_signal(control.clone()));
    let status = (!args.quiet).then(|| tokio::spawn(live_view(control.clone(), planned)));
    let result = handle.wait().await;
    signals.abort();
    if let Some(s) = status {
        s.abort();
    }
    let collection = monitor.stop().await;
    managed::stop(target).await;
    match result {
        Ok(mut report) => {
            collection.attach(&mut report);
            finish(&args, &report)
        }
        Err(RunError::Failed {
            message,
            mut partial,
        }) => {
            eprintln!("error: the run failed: {message}; writing the partial report");
            collection.attach(&mut partial);
            finish(&args, &partial);
            exit::INTERNAL
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INTERNAL
        }
    }
}

fn finish(args: &RunArgs, report: &RunReport) -> i32 {
    let outputs = OutputOptions {
        json: args.json.clone(),
        html: args.html.clone(),
        csv_prefix: args.csv.clone(),
        junit: args.junit.clone(),
    };
    let errors = write_outputs(report, &outputs);
    for e in &errors {
        eprintln!("error: {e}");
    }
    print!("{}", summary::render(report, !args.quiet));
    if report.run.interrupted {
        exit::INTERRUPTED
    } else if !errors.is_empty() {
        exit::INTERNAL
    } else if !report.verdict.passed || scaling_failed(report) {
        exit::THRESHOLDS_FAILED
    } else {
        exit::PASS
    }
}

/// Whether `--scaling-probe` checks ran and one failed.
fn scaling_failed(report: &RunReport) -> bool {
    report
        .analysis
        .as_ref()
        .and_then(|a| a.scaling.as_ref())
        .is_some_and(|s| !s.passed)
}

async fn stop_on_signal(control: RunControl) {
    wait_for_signal().await;
    eprintln!(
        "\ncicada: stopping (users finish their current request; reports will be written; signal again to stop at once)..."
    );
    control.stop();
    wait_for_signal().await;
    eprintln!("cicada: stopping at once; reports will be written...");
    control.force_stop();
}

#[cfg(unix)]
pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
pub(crate) async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// The live view of `cicada_report::live`: a redrawn screen on a terminal, a status line
/// every few seconds in logs.
async fn live_view(control: RunControl, planned: Option<Duration>) {
    let tty = std::io::stderr().is_terminal();
    let view = LiveView::new(tty);
    let mut ticker = tokio::time::interval(if tty { FRAME_EVERY } else { LOG_EVERY });
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if control.is_stopping() {
            return;
        }
        eprint!("{}", view.frame(&control.snapshot(), planned));
    }
}
