//! The `cicada` command. Parses arguments, builds the Tokio runtime, runs the subcommand and
//! turns its outcome into an exit code; everything else lives in `cmd/` and the library.

mod analysis;
mod cli;
mod cmd;
mod exit;
mod managed;
mod summary;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let code = cmd::dispatch(cli);
    std::process::ExitCode::from(code as u8)
}
