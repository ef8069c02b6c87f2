//! The `dryad` binary: parse flags, set up logging, run `serve` or `seed`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser as _;
use dryad::cli::{Cli, Command};
use dryad::config::{SeedConfig, ServeConfig};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let cfg = ServeConfig::try_from(&*args)?;
            let listener = tokio::net::TcpListener::bind(cfg.bind)
                .await
                .with_context(|| format!("binding {}", cfg.bind))?;
            let addr = listener.local_addr()?;
            println!("dryad listening on http://{addr}");
            std::io::stdout().flush()?;
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            dryad::serve::run(cfg, listener, shutdown).await?;
        }
        Command::Seed(args) => {
            let cfg = SeedConfig::try_from(&args)?;
            let report = dryad::seed::seed(&cfg).await?;
            println!(
                "seeded {} agents ({} already complete), {} executions inserted, {} accounts in {:.1} s",
                report.agents,
                report.agents_skipped,
                report.executions_inserted,
                report.accounts,
                report.elapsed.as_secs_f64()
            );
            if let Some(path) = &cfg.export_agents {
                println!("agent ids written to {}", path.display());
            }
        }
    }
    Ok(())
}

/// Cancels `token` on Ctrl-C or SIGTERM.
async fn signal_shutdown(token: CancellationToken) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
    token.cancel();
}
