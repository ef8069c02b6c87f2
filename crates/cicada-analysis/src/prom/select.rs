//! Selecting metric families by name: glob patterns (`dryad_*`, `*_seconds`, `process_?ss`) or
//! regular expressions written between slashes (`/^dryad_(pool|queue)_.*$/`).

use regex::Regex;

/// A pattern that could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("invalid metric pattern {pattern:?}: {source}")]
pub struct PatternError {
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// Which metric families to keep. An empty selector keeps every family.
#[derive(Debug, Clone, Default)]
pub struct MetricSelector {
    patterns: Vec<(String, Regex)>,
}

impl MetricSelector {
    /// Keep every metric.
    pub fn all() -> Self {
        Self::default()
    }

    /// Build from patterns: `/regex/` is a regular expression (unanchored, as written); anything
    /// else is a glob over the whole name where `*` is any run of characters and `?` one.
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                let p = p.as_ref();
                let source = match p.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                    Some(re) if p.len() >= 2 => re.to_owned(),
                    _ => glob_to_regex(p),
                };
                Regex::new(&source)
                    .map(|re| (p.to_owned(), re))
                    .map_err(|source| PatternError {
                        pattern: p.to_owned(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// True when `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|(_, re)| re.is_match(name))
    }

    /// The patterns as given.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|(p, _)| p.as_str())
    }
}

fn glob_to_regex(glob: &str) -> String {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_the_whole_name() {
        let s = MetricSelector::new(["dryad_*", "*_seconds", "process_?ss_bytes"]).unwrap();
        assert!(s.matches("dryad_queue_depth"));
        assert!(s.matches("http_request_duration_seconds"));
        assert!(s.matches("process_rss_bytes"));
        assert!(!s.matches("go_goroutines"));
        assert!(!s.matches("x_dryad_queue"));
        assert!(!s.matches("http_request_duration_seconds_total"));
        // Regex metacharacters in a glob are literal.
        let s = MetricSelector::new(["a.b"]).unwrap();
        assert!(s.matches("a.b"));
        assert!(!s.matches("axb"));
    }

    #[test]
    fn slashes_make_a_regex() {
        let s = MetricSelector::new(["/^dryad_(pool|queue)_/"]).unwrap();
        assert!(s.matches("dryad_pool_acquire_seconds"));
        assert!(s.matches("dryad_queue_depth"));
        assert!(!s.matches("dryad_workers_current"));
        assert_eq!(s.patterns().collect::<Vec<_>>(), ["/^dryad_(pool|queue)_/"]);
    }

    #[test]
    fn empty_selects_all_and_bad_regex_is_an_error() {
        assert!(MetricSelector::all().matches("anything"));
        let e = MetricSelector::new(["/(/"]).unwrap_err();
        assert_eq!(e.pattern, "/(/");
        // A lone slash is a glob, not an empty regex.
        assert!(MetricSelector::new(["/"]).unwrap().matches("/"));
    }
}
