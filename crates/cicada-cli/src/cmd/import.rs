//! `cicada import`: convert a Locust file into a scenario file (the library is `cicada-import`).
//! Every construct not converted exactly is printed on stderr; the scenario is validated with
//! the same code as `cicada check` before it is written.

use std::io::Write as _;
use std::path::PathBuf;

use cicada::scenario::{CompileOptions, Program, parse_scenario};
use cicada_import::{ImportError, Options, convert_file};
use clap::Args;

use crate::exit;

/// `cicada import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Locust file (Python).
    pub locustfile: PathBuf,
    /// Write the scenario to FILE (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// The Python interpreter that parses the Locust file (nothing in it is run).
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub python: String,
}

pub fn import(args: ImportArgs) -> i32 {
    if let Some(out) = &args.output
        && out.exists()
        && !args.force
    {
        eprintln!(
            "error: {} exists; pass --force to overwrite it",
            out.display()
        );
        return exit::BAD_INPUT;
    }
    let options = Options {
        python: args.python.clone(),
    };
    let conversion = match convert_file(&args.locustfile, &options) {
        Ok(c) => c,
        Err(e @ (ImportError::PythonMissing { .. } | ImportError::PythonFailed { .. })) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let shown = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("scenario.toml"));
    // The output must be a scenario `cicada check` accepts; a failure here is a converter bug.
    let valid = parse_scenario(&conversion.toml, &shown)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            Program::compile(&s, &CompileOptions::default())
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    let file = args.locustfile.display();
    for n in &conversion.notes {
        eprintln!(
            "{file}:{}: {}: `{}`: {}",
            n.line,
            n.kind.label(),
            n.code,
            n.reason
        );
    }
    if let Err(e) = valid {
        eprintln!(
            "error: the converted scenario does not validate (a bug in cicada import; the notes above may say why): {e}"
        );
        if std::env::var_os("CICADA_IMPORT_DEBUG").is_some() {
            eprintln!("{}", conversion.toml);
        }
        return exit::INTERNAL;
    }
    let written = match &args.output {
        Some(out) => std::fs::write(out, &conversion.toml),
        None => std::io::stdout().write_all(conversion.toml.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", shown.display());
        return exit::INTERNAL;
    }
    let not = conversion
        .notes
        .iter()
        .filter(|n| n.kind == cicada_import::NoteKind::NotConverted)
        .count();
    if let Some(out) = &args.output {
        eprintln!(
            "wrote {} ({} note(s), {not} not converted); check it with: cicada check {}",
            out.display(),
            conversion.notes.len(),
            out.display()
        );
    }
    exit::PASS
}
