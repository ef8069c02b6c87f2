//! `Server-Timing` response headers (W3C): the one parser of the workspace.
//!
//! The engine keeps three durations of every response, [`ServerTimes::from_headers`]:
//! `db` (time in the database), `pool` (time waiting for a database connection) and `app`
//! (the rest of the handler), as dryad sends them:
//! `Server-Timing: pool;dur=0.012, db;dur=1.204, app;dur=0.310`. Reading them allocates
//! nothing, and a response without the header costs one header lookup. The analysis crate
//! reads whole headers with [`parse_server_timing`].
//!
//! Entries are comma-separated, parameters semicolon-separated; quoted strings may hold commas
//! and semicolons. Malformed entries and values are skipped, as the specification asks of user
//! agents: a bad header never fails a request.

use http::{HeaderMap, HeaderName};

/// The header's name.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The durations the engine keeps from one response, in µs (rounded from the header's ms).
/// Several entries of one name (e.g. one `db` per query) add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerTimes {
    pub db_us: Option<u64>,
    pub pool_us: Option<u64>,
    pub app_us: Option<u64>,
}

impl ServerTimes {
    /// The `db`, `pool` and `app` durations of a response's `Server-Timing` headers; `None`
    /// when it reported neither `db` nor `pool` (the figures the database analysis needs).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut values = headers.get_all(SERVER_TIMING).iter().peekable();
        values.peek()?;
        let mut out = Self::default();
        for value in values {
            if let Ok(text) = value.to_str() {
                out.add_header(text);
            }
        }
        (out.db_us.is_some() || out.pool_us.is_some()).then_some(out)
    }

    /// Add the `db`, `pool` and `app` entries of one header value.
    pub fn add_header(&mut self, header: &str) {
        for entry in entries(header) {
            let slot = if entry.name.eq_ignore_ascii_case("db") {
                &mut self.db_us
            } else if entry.name.eq_ignore_ascii_case("pool") {
                &mut self.pool_us
            } else if entry.name.eq_ignore_ascii_case("app") {
                &mut self.app_us
            } else {
                continue;
            };
            if let Some(ms) = entry.dur_ms() {
                let us = (ms * 1000.0).round() as u64;
                *slot = Some(slot.unwrap_or(0).saturating_add(us));
            }
        }
    }
}

/// One `name;param=value;…` entry, borrowed from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The metric name (a valid token).
    pub name: &'a str,
    params: &'a str,
}

impl<'a> Entry<'a> {
    /// `(key, raw value)` pairs, trimmed; a value may still be quoted.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        SplitOutside::new(self.params, b';').filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim(), v.trim()))
        })
    }

    /// The first `dur` parameter in ms, when it is a finite number ≥ 0.
    pub fn dur_ms(&self) -> Option<f64> {
        let (_, v) = self.params().find(|(k, _)| k.eq_ignore_ascii_case("dur"))?;
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        v.parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0)
    }

    /// The first `desc` parameter, unquoted.
    pub fn desc(&self) -> Option<String> {
        let (_, v) = self
            .params()
            .find(|(k, _)| k.eq_ignore_ascii_case("desc"))?;
        Some(unquote(v))
    }
}

/// The well-formed entries of a header value, without allocating.
pub fn entries(header: &str) -> impl Iterator<Item = Entry<'_>> {
    SplitOutside::new(header, b',').filter_map(|entry| {
        let (name, params) = match SplitOutside::new(entry, b';').next() {
            Some(first) => (first, &entry[first.len()..]),
            None => (entry, ""),
        };
        let name = name.trim();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
        valid.then_some(Entry { name, params })
    })
}

/// One entry with its parameters read out.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingEntry {
    pub name: String,
    /// `dur` in milliseconds; `None` when absent or not a number.
    pub dur_ms: Option<f64>,
    pub desc: Option<String>,
}

/// Parse a whole `Server-Timing` header value (malformed entries skipped).
pub fn parse_server_timing(header: &str) -> Vec<TimingEntry> {
    entries(header)
        .map(|e| TimingEntry {
            name: e.name.to_owned(),
            dur_ms: e.dur_ms(),
            desc: e.desc(),
        })
        .collect()
}

/// Splits at `sep` outside double quotes (a backslash escapes inside quotes).
struct SplitOutside<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> SplitOutside<'a> {
    fn new(s: &'a str, sep: u8) -> Self {
        Self { rest: Some(s), sep }
    }
}

impl<'a> Iterator for SplitOutside<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in s.bytes().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                quoted = !quoted;
            } else if c == self.sep && !quoted {
                // `sep` is ASCII, so `i` and `i + 1` are character boundaries.
                self.rest = Some(&s[i + 1..]);
                return Some(&s[..i]);
            }
        }
        self.rest = None;
        Some(s)
    }
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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

    fn times(values: &[&str]) -> Option<ServerTimes> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(SERVER_TIMING, HeaderValue::from_str(v).unwrap());
        }
        ServerTimes::from_headers(&headers)
    }

    #[test]
    fn keeps_db_pool_and_app_in_microseconds() {
        assert_eq!(
            times(&["pool;dur=0.012, db;dur=1.204, app;dur=0.310"]),
            Some(ServerTimes {
                db_us: Some(1204),
                pool_us: Some(12),
                app_us: Some(310),
            })
        );
        // Several headers and repeated names add up; case does not matter.
        assert_eq!(
            times(&["db;dur=1", "DB;dur=2.5;desc=\"q2\", Pool;dur=\"3\""]),
            Some(ServerTimes {
                db_us: Some(3500),
                pool_us: Some(3000),
                app_us: None,
            })
        );
    }

    #[test]
    fn absent_or_malformed_timing_is_ignored() {
        assert_eq!(times(&[]), None);
        assert_eq!(times(&["app;dur=3, cache;dur=1"]), None);
        for bad in [
            "db;dur=abc",
            "db;dur=-1",
            "db;dur=NaN",
            "db;dur=inf",
            "db",
            "db;dur",
            ";;;,,,",
            "d b;dur=1",
            "\"db\";dur=1",
            "db;dur=\"1",
        ] {
            assert_eq!(times(&[bad]), None, "{bad}");
        }
        // A bad entry does not spoil the good ones beside it.
        assert_eq!(
            times(&["db;dur=oops, pool;dur=2, db;dur=4"]).map(|t| (t.db_us, t.pool_us)),
            Some((Some(4000), Some(2000)))
        );
        // A value that is not visible ASCII is skipped as a whole header.
        let mut headers = HeaderMap::new();
        headers.append(
            SERVER_TIMING,
            HeaderValue::from_bytes(b"db;dur=1;desc=\xff").unwrap(),
        );
        assert_eq!(ServerTimes::from_headers(&headers), None);
    }
}
