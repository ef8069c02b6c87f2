//! Notes: every construct of the Locust file that is not converted exactly, with its line and
//! the reason. Nothing is dropped without one.

use std::fmt;

/// How a construct was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// Not converted: the scenario does not do it.
    NotConverted,
    /// Converted with a difference in meaning, said in the reason.
    Approximated,
    /// Not converted because cicada already does it (e.g. the end-of-run summary).
    Covered,
}

impl NoteKind {
    pub fn label(self) -> &'static str {
        match self {
            NoteKind::NotConverted => "not converted",
            NoteKind::Approximated => "approximated",
            NoteKind::Covered => "covered by cicada",
        }
    }
}

/// One construct of the Locust file and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub kind: NoteKind,
    /// 1-based line in the Locust file.
    pub line: usize,
    /// The source line, trimmed (shortened past 80 characters).
    pub code: String,
    pub reason: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: `{}`: {}",
            self.line,
            self.kind.label(),
            self.code,
            self.reason
        )
    }
}
