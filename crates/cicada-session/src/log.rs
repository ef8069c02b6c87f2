//! Where a session says what it is doing, one line at a time: "cicada: starting target: …",
//! the capacity search's steps, a run that failed part-way. The CLI prints the lines on
//! stderr ([`Stderr`]); another front end (the web page) can show them too.

/// A sink for a session's progress lines.
pub trait Log: Send + Sync {
    /// One line (it may start with a newline, to leave a terminal's status line first).
    fn line(&self, line: &str);
}

/// Every line on stderr, as the CLI shows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Log for Stderr {
    fn line(&self, line: &str) {
        eprintln!("{line}");
    }
}
