//! `cicada run --web`: serve the live web UI and control API (`cicada_web`) on one session,
//! write the requested reports at the end of every run as headless does, and exit with the
//! last run's code.

use std::sync::Arc;
use std::time::Duration;

use cicada::launch::LaunchOptions;
use cicada_session::log::Stderr;
use cicada_session::outcome::judge;
use cicada_session::signals::wait_for_signal;
use cicada_session::target::StartError as TargetStartError;
use cicada_session::{Session, SessionOptions, prepare};
use cicada_web::{ControlError, Controller, LocalDriver, Quit, WebError, WebOptions, bind, serve};

use crate::cli::RunArgs;
use crate::exit;

/// `coordinator`: steer a distributed run's workers (`--master --web`) instead of the engine in
/// this process.
pub async fn run_web(
    args: RunArgs,
    options: LaunchOptions,
    workers: usize,
    coordinator: Option<cicada_dist::Coordinator>,
) -> i32 {
    // The scenario and flags must be valid; a load plan and host may come from the form
    // later, except with --autostart, which runs the command line's settings at once.
    let checked = if args.web.autostart {
        prepare(&options, workers).map(drop)
    } else {
        cicada::launch::check(&options).map(drop)
    };
    if let Err(e) = checked {
        eprintln!("error: {e}");
        return exit::BAD_INPUT;
    }
    let scenario = match cicada::scenario::load_scenario_file(&options.scenario_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let mut web = WebOptions {
        host: args.web.web_host.clone(),
        port: args.web.web_port,
        auth_token: args.web.web_auth_token.clone(),
        autostart: args.web.autostart,
        autoquit: args.web.autoquit.map(Duration::from_secs),
    };
    web.token_from_env();
    let (listener, auth) = match bind(&web).await {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let session_options = SessionOptions {
        target: args.target.spec(),
        analysis: args.analysis.options(),
    };
    let session = match Session::open(session_options, Box::new(Stderr), wait_for_signal()).await {
        Ok(s) => Arc::new(s),
        Err(TargetStartError::Interrupted) => return exit::INTERRUPTED,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::UNREACHABLE;
        }
    };
    let args = Arc::new(args);
    let on_finished = {
        let args = Arc::clone(&args);
        Box::new(move |finished: &cicada_session::Finished| {
            if let Some(message) = &finished.failure {
                eprintln!("error: the run failed: {message}; writing the partial report");
            }
            let code = super::run::finish(&args, &finished.report);
            if finished.failure.is_some() {
                return exit::INTERNAL;
            }
            // A stop from the page ends a run normally: judge it on its numbers.
            if code == exit::INTERRUPTED {
                let mut report = finished.report.clone();
                report.run.interrupted = false;
                return super::run::outcome_code(judge(&report, true));
            }
            code
        })
    };
    let driver: Arc<dyn cicada_web::Driver> = match &coordinator {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(LocalDriver::new(Arc::clone(&session))),
    };
    let target_pid = session.target_pid().or(args.analysis.target_pid);
    let controller = Controller::new(driver, options, scenario, workers, on_finished)
        .with_target_pid(target_pid);
    match listener.local_addr() {
        Ok(addr) => eprintln!(
            "cicada: web UI on http://{addr}/ ({}) — Ctrl-C quits",
            if auth.is_required() {
                "token required"
            } else {
                "loopback only"
            }
        ),
        Err(e) => eprintln!("cicada: web UI listening ({e})"),
    }
    let quit = serve(listener, auth, controller.clone(), &web, wait_for_signal()).await;
    let last_code = controller.exit_code();
    drop(controller);
    if let Some(c) = &coordinator {
        c.quit();
    }
    close(session).await;
    match quit {
        Err(WebError::Autostart(e)) => {
            eprintln!("error: --autostart: {e}");
            match e {
                ControlError::Unreachable(_) => exit::UNREACHABLE,
                ControlError::Engine(_) => exit::INTERNAL,
                _ => exit::BAD_INPUT,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INTERNAL
        }
        Ok(Quit::Signal {
            interrupted_run: true,
        }) => exit::INTERRUPTED,
        // The last run's code, as headless; no run at all is no failure.
        Ok(_) => last_code.unwrap_or(exit::PASS),
    }
}

/// Stop the managed target once the server's last handle on the session is gone (the
/// server's tasks end within a moment of quitting).
async fn close(mut session: Arc<Session>) {
    for _ in 0..50 {
        match Arc::try_unwrap(session) {
            Ok(s) => return s.close().await,
            Err(still_shared) => session = still_shared,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("warning: the session is still in use; the managed target was not stopped");
}
