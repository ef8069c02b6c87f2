//! What can stop a conversion as a whole (a single construct that cannot be converted is a
//! [`crate::Note`] instead, and the conversion goes on).

use std::path::PathBuf;

/// Why a Locust file could not be converted at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "cannot run {python} to parse the Locust file ({source}); cicada import reads Python with Python's own parser: install Python 3 (the one Locust runs on) or name it with --python"
    )]
    PythonMissing {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{python} failed while parsing the Locust file: {message}")]
    PythonFailed { python: String, message: String },
    #[error("{file}:{line}:{column}: Python syntax error: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: no Locust user class converts (a class deriving from HttpUser or FastHttpUser, not abstract, with a task that converts){}", notes_text(.notes))]
    NoUsers {
        file: String,
        notes: Vec<crate::Note>,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn notes_text(notes: &[crate::Note]) -> String {
    notes.iter().map(|n| format!("\n  {n}")).collect()
}
