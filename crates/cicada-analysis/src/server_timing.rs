//! `Server-Timing` headers (W3C): parsing, and per-second shares of time by metric name.
//!
//! dryad answers every request with e.g. `Server-Timing: pool;dur=0.012, db;dur=1.204,
//! app;dur=0.310`. The engine hands each response's header to a [`ServerTimingShares`] with the
//! second it completed in; [`ServerTimingShares::share_series`] then gives, per second, the
//! share of all reported time spent in `db` — the input of the database-bound rule.

use std::collections::BTreeMap;

use cicada_report::analysis_model::SeriesPoint;

/// One `name;dur=…` entry (`dur` in milliseconds; `None` when absent or not a number).
#[derive(Debug, Clone, PartialEq)]
pub struct TimingEntry {
    pub name: String,
    pub dur_ms: Option<f64>,
    pub desc: Option<String>,
}

/// Parse a `Server-Timing` header value. Entries are comma-separated, parameters
/// semicolon-separated; quoted strings may contain commas and semicolons. Malformed entries
/// are skipped, as the specification asks of user agents.
pub fn parse_server_timing(header: &str) -> Vec<TimingEntry> {
    split_outside_quotes(header, ',')
        .into_iter()
        .filter_map(|entry| {
            let mut parts = split_outside_quotes(entry, ';').into_iter();
            let name = parts.next()?.trim();
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if !valid {
                return None;
            }
            let mut dur_ms = None;
            let mut desc = None;
            for p in parts {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let v = unquote(v.trim());
                match k.trim().to_ascii_lowercase().as_str() {
                    "dur" if dur_ms.is_none() => {
                        dur_ms = v.parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0)
                    }
                    "desc" if desc.is_none() => desc = Some(v),
                    _ => {}
                }
            }
            Some(TimingEntry {
                name: name.to_owned(),
                dur_ms,
                desc,
            })
        })
        .collect()
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

/// Sums of `Server-Timing` durations per second of the run.
#[derive(Debug, Clone, Default)]
pub struct ServerTimingShares {
    /// second → name → total ms.
    seconds: BTreeMap<u64, BTreeMap<String, f64>>,
}

impl ServerTimingShares {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one response's header, completed in interval `second` (its `elapsed_s`).
    pub fn add(&mut self, second: u64, header: &str) {
        let totals = self.seconds.entry(second).or_default();
        for e in parse_server_timing(header) {
            if let Some(d) = e.dur_ms {
                *totals.entry(e.name).or_default() += d;
            }
        }
    }

    /// Merge another accumulator (e.g. one per worker).
    pub fn merge(&mut self, other: &Self) {
        for (s, names) in &other.seconds {
            let totals = self.seconds.entry(*s).or_default();
            for (n, d) in names {
                *totals.entry(n.clone()).or_default() += d;
            }
        }
    }

    /// Per second: `name`'s share (0..=1) of all reported time. Seconds without any reported
    /// time are left out.
    pub fn share_series(&self, name: &str) -> Vec<SeriesPoint> {
        self.seconds
            .iter()
            .filter_map(|(s, totals)| {
                let all: f64 = totals.values().sum();
                (all > 0.0).then(|| SeriesPoint {
                    elapsed_s: *s as f64,
                    value: totals.get(name).copied().unwrap_or(0.0) / all,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dryads_header_and_the_spec_examples() {
        let e = parse_server_timing("pool;dur=0.012, db;dur=1.204, app;dur=0.310");
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].name, "db");
        assert_eq!(e[1].dur_ms, Some(1.204));
        let e = parse_server_timing(
            r#"cache;desc="Cache Read";dur=23.2, missedCache, cpu;dur=2.4;desc="a, \"b\"; c""#,
        );
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].desc.as_deref(), Some("Cache Read"));
        assert_eq!(e[1].dur_ms, None);
        assert_eq!(e[2].desc.as_deref(), Some("a, \"b\"; c"));
        assert_eq!(e[2].dur_ms, Some(2.4));
        // Malformed entries are skipped; the first dur wins.
        let e = parse_server_timing("  , bad name;dur=1, ok;dur=x, twice;dur=1;dur=2");
        assert_eq!(
            e.iter()
                .map(|e| (e.name.as_str(), e.dur_ms))
                .collect::<Vec<_>>(),
            [("ok", None), ("twice", Some(1.0))]
        );
        assert!(parse_server_timing("").is_empty());
    }

    #[test]
    fn shares_per_second() {
        let mut a = ServerTimingShares::new();
        a.add(1, "pool;dur=0, db;dur=1, app;dur=3");
        a.add(1, "db;dur=1, app;dur=3");
        a.add(2, "db;dur=9, app;dur=1");
        let mut b = ServerTimingShares::new();
        b.add(3, "app;dur=2");
        b.add(4, "nothing");
        a.merge(&b);
        let s = a.share_series("db");
        assert_eq!(
            s.iter().map(|p| (p.elapsed_s, p.value)).collect::<Vec<_>>(),
            [(1.0, 0.25), (2.0, 0.9), (3.0, 0.0)]
        );
    }
}
