//! `cicada run`: validate, print the target, start, show status, stop on Ctrl-C/SIGTERM, and
//! always write every requested report. The session (`cicada_session`) does the work; this
//! file maps flags in and outcomes to exit codes.

use std::io::IsTerminal;
use std::time::Duration;

use cicada::launch::LaunchOptions;
use cicada_render::live::LiveView;
use cicada_render::{OutputOptions, write_outputs};
use cicada_report::RunReport;
use cicada_session::log::Stderr;
use cicada_session::outcome::{Outcome, judge};
use cicada_session::signals::{stop_on_signal, wait_for_signal};
use cicada_session::target::StartError as TargetStartError;
use cicada_session::{Session, SessionOptions, StartError, prepare};

use cicada_web::Steer;

use crate::cli::RunArgs;
use crate::{exit, summary};

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
    options.exit_code_on_error = args.exit_code_on_error;
    options.local_ips = args.local_ips.clone();
    options.start_at = args.start_at;
    if args.dist.worker {
        return super::block_on(|workers| super::run_dist::worker(args, workers));
    }
    if args.dist.master {
        return super::block_on(|workers| super::run_dist::master(args, options, workers));
    }
    if args.web.web {
        return super::block_on(|workers| super::run_web::run_web(args, options, workers, None));
    }
    super::block_on(|workers| run_async(args, options, workers))
}

async fn run_async(args: RunArgs, options: LaunchOptions, workers: usize) -> i32 {
    let config = match prepare(&options, workers) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let planned = config.plan.run_time;
    eprintln!(
        "cicada: target {} — {} — scenario {}",
        config.target.url,
        config.plan.describe(),
        config.program.name
    );
    let session_options = SessionOptions {
        target: args.target.spec(),
        analysis: args.analysis.options(),
    };
    let session = match Session::open(session_options, Box::new(Stderr), wait_for_signal()).await {
        Ok(s) => s,
        Err(TargetStartError::Interrupted) => return exit::INTERRUPTED,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::UNREACHABLE;
        }
    };
    let running = match session.start(config).await {
        Ok(r) => r,
        Err(e) => {
            let code = match &e {
                StartError::Analysis(_) | StartError::Monitor(_) => exit::BAD_INPUT,
                StartError::Unreachable(_) => exit::UNREACHABLE,
                StartError::Engine(_) => exit::INTERNAL,
            };
            if code == exit::UNREACHABLE {
                eprintln!(
                    "error: {e}\n(nothing was sent; start the target, fix -H/--host, or pass --allow-unreachable)"
                );
            } else {
                eprintln!("error: {e}");
            }
            session.close().await;
            return code;
        }
    };
    let control = running.control().clone();
    let signals = tokio::spawn(async move { stop_on_signal(control, &Stderr).await });
    let status = (!args.quiet).then(|| {
        tokio::spawn(live_view(running.control().clone(), planned, |_| {
            String::new()
        }))
    });
    let finished = running.finish().await;
    signals.abort();
    if let Some(s) = status {
        s.abort();
    }
    session.close().await;
    match finished {
        Ok(f) => match f.failure {
            None => finish(&args, &f.report),
            Some(message) => {
                eprintln!("error: the run failed: {message}; writing the partial report");
                finish(&args, &f.report);
                exit::INTERNAL
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            exit::INTERNAL
        }
    }
}

/// Write every requested report, print the summary, and return the run's exit code.
pub(super) fn finish(args: &RunArgs, report: &RunReport) -> i32 {
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
    outcome_code(judge(report, errors.is_empty()))
}

/// The exit code of an outcome.
pub(super) fn outcome_code(outcome: Outcome) -> i32 {
    match outcome {
        Outcome::Interrupted => exit::INTERRUPTED,
        Outcome::ReportsNotWritten => exit::INTERNAL,
        Outcome::Failed { code } => i32::from(code),
        Outcome::Passed => exit::PASS,
    }
}

/// The live view of `cicada_render::live`: a redrawn screen on a terminal, a status line
/// every few seconds in logs; `extra` adds lines under it (a coordinator's worker rows).
pub(super) async fn live_view(
    run: impl Steer,
    planned: Option<Duration>,
    extra: fn(&RunReport) -> String,
) {
    let tty = std::io::stderr().is_terminal();
    let view = LiveView::new(tty);
    let mut ticker = tokio::time::interval(if tty { FRAME_EVERY } else { LOG_EVERY });
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if run.is_stopping() {
            return;
        }
        let snapshot = run.snapshot();
        eprint!("{}{}", view.frame(&snapshot, planned), extra(&snapshot));
    }
}
