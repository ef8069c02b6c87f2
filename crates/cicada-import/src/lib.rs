//! `cicada import`: a Locust file (Python) becomes a commented cicada scenario file.
//!
//! The common subset of Locust files converts exactly: `HttpUser`/`FastHttpUser` classes (and
//! their local base classes), `host`, the four `wait_time`s, `weight`, `on_start`/`on_stop`,
//! `@task(n)` and `tasks = [...]`/`{...}`, `@tag`, `self.client.<method>(...)` with `json=`,
//! `data=`, `params=`, `headers=` and `name=`, f-string URLs with `uuid4()`,
//! `random.randint` and `random.choice` (to generators, so that each endpoint stays one row of
//! the report: `/agents/{{agent_id}}/executions`), `response.json()[...]` kept on `self` or in
//! a local (to captures), header dicts kept on `self`, `catch_response` with `success()` and
//! `failure()` (to `checks` and `expect_status`), simple polling `while` loops, `if`s on a
//! response and `for` over a list in one (to `until`, `if` and `foreach` steps). Anything else is a [`Note`] with its line and the
//! reason — printed by the CLI, and written at the top of the scenario — so nothing is dropped
//! silently. `fixed_count`, `TaskSet`s and `SequentialTaskSet`s convert with a difference of
//! meaning that their note says. The full list is in docs/scenario.md ("Importing a Locust
//! file").
//!
//! ## Why Python's own parser
//!
//! The file is parsed by Python's `ast` module, run as `python3` with a small helper script
//! embedded in this crate ([`python`]); the tree comes back as JSON and the conversion is Rust.
//! Python's `ast` is the reference grammar of every Python version (a Locust file written for
//! 3.12 parses as 3.12 does), it is maintained with the language, and whoever has a Locust file
//! has Python. The Rust parsers are not a fit: ruff's parser is not published on crates.io, and
//! `rustpython-parser` has had no release since RustPython moved to ruff's parser. Nothing in
//! the Locust file is executed. When `python3` is missing the error says so and how to name
//! another interpreter ([`Options::python`], `--python`).
//!
//! ```
//! let conversion = cicada_import::convert_source(
//!     r#"
//! from locust import HttpUser, task, between
//! from uuid import uuid4
//!
//! class Reader(HttpUser):
//!     wait_time = between(1, 3)
//!
//!     @task(3)
//!     def item(self):
//!         self.client.get(f"/items/{uuid4()}", name="/items/[id]")
//! "#,
//!     "locustfile.py",
//!     &cicada_import::Options::default(),
//! )?;
//! assert!(conversion.toml.contains(r#"path = "/items/{{uuid}}""#));
//! assert!(conversion.notes.is_empty());
//! # Ok::<(), cicada_import::ImportError>(())
//! ```

mod ast;
mod convert;
mod cx;
mod emit;
mod error;
mod func;
mod model;
mod note;
mod pyexpr;
pub mod python;

use std::path::Path;

pub use error::ImportError;
pub use note::{Note, NoteKind};

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Python interpreter that parses the file (default `python3`).
    pub python: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            python: "python3".to_owned(),
        }
    }
}

/// A converted Locust file.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The scenario file's text (TOML, commented; its header lists every note).
    pub toml: String,
    /// What was not converted exactly, by line.
    pub notes: Vec<Note>,
}

/// Convert the Locust file at `path`.
pub fn convert_file(path: &Path, options: &Options) -> Result<Conversion, ImportError> {
    let source = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    convert_source(&source, &name, options)
}

/// Convert Locust source; `file_name` names it in the output and in errors, and its stem is
/// the scenario's name.
pub fn convert_source(
    source: &str,
    file_name: &str,
    options: &Options,
) -> Result<Conversion, ImportError> {
    let tree = python::parse(&options.python, file_name, source)?;
    let mut cx = cx::Cx::new(source);
    let stem = Path::new(file_name).file_stem().map_or_else(
        || "locustfile".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let mut scenario = convert::module(&mut cx, ast::Node(&tree), &stem);
    scenario.generators = std::mem::take(&mut cx.generators);
    if scenario.users.is_empty() {
        return Err(ImportError::NoUsers {
            file: file_name.to_owned(),
            notes: cx.notes,
        });
    }
    let mut notes = cx.notes;
    notes.sort_by_key(|n| (n.line, n.kind));
    let toml = emit::scenario(&scenario, file_name, &notes);
    Ok(Conversion { toml, notes })
}
