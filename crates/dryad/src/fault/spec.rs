//! `--fault SPEC`: the text form of one planted fault, parsed into a typed [`Fault`].
//!
//! `SPEC` is `KIND` or `KIND:key=value,key=value`; the keys of each kind are fixed and all
//! required (see [`HELP`]). Route faults name a route by its template, exactly as the router
//! and `/metrics` spell it (`/api/v1/agent-studio/agents/{agent_id}/executions`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The long help of `--fault`: every fault, what it does and what it looks like from outside.
pub const HELP: &str = "\
Plant a known fault (repeatable; off by default; each active fault is logged as a WARN at start \
and exported as dryad_fault_active{kind=...} on /metrics). For load-test calibration only.
SPEC is KIND or KIND:key=value,...; ROUTE is a route template as /metrics labels it, e.g. \
/api/v1/agent-studio/agents/{agent_id}/executions.
  latency:route=ROUTE,ms=N
      every request to ROUTE sleeps N ms before its handler (Server-Timing: app; no CPU used).
  cpu:route=ROUTE,ms=N
      every request to ROUTE burns N ms of CPU time (thread CPU time) on its runtime worker.
  leak:route=ROUTE,bytes=N
      every request to ROUTE allocates N bytes, touches them and keeps them forever (RSS grows \
without bound; dryad_fault_leaked_bytes).
  cache:route=ROUTE,bytes=N,max-mb=M
      every request to ROUTE puts N touched bytes into a cache that evicts its oldest entries \
beyond M MiB: RSS grows, then levels off (dryad_fault_cache_bytes).
  missing-index
      drops the history indexes (executions_agent_start, executions_agent_status) at start, so \
GET /api/v1/agent-studio/agents/{agent_id}/executions (and the per-agent metrics) scan the \
executions table. The change is in the database: a later start without this fault recreates them.
  write-lock:ms=N
      every POST /api/v1/agent-studio/execute holds its write transaction N ms after its insert \
(SQLite: the write lock and dryad's single writer connection; PostgreSQL: LOCK TABLE executions \
IN SHARE ROW EXCLUSIVE MODE), so other writes, the workers' included, wait behind it.
  crash:after-requests=N | crash:after-secs=T
      the process exits with code 70, without draining, on its N-th /api/ request or T seconds \
after it starts listening (restart it with a supervisor, e.g. sh -c 'while :; do dryad serve ...; done').";

/// Exit code of the `crash` fault (EX_SOFTWARE).
pub const CRASH_EXIT_CODE: i32 = 70;

/// One planted fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Sleep before the handler of `route`.
    Latency {
        /// Route template.
        route: String,
        /// Added delay.
        delay: Duration,
    },
    /// Burn CPU time before the handler of `route`.
    Cpu {
        /// Route template.
        route: String,
        /// CPU time per request.
        work: Duration,
    },
    /// Keep `bytes` per request to `route` forever.
    Leak {
        /// Route template.
        route: String,
        /// Bytes per request.
        bytes: usize,
    },
    /// Keep `bytes` per request to `route` in a cache bounded at `max_bytes`.
    Cache {
        /// Route template.
        route: String,
        /// Bytes per request.
        bytes: usize,
        /// The cache's bound.
        max_bytes: usize,
    },
    /// Drop the history indexes at start.
    MissingIndex,
    /// Hold each execute's write transaction this long after its insert.
    WriteLock {
        /// How long the lock is held.
        hold: Duration,
    },
    /// Exit abruptly.
    Crash(CrashAfter),
}

/// When the `crash` fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashAfter {
    /// On the N-th request to an `/api/` route.
    Requests(u64),
    /// This long after the service starts listening.
    Elapsed(Duration),
}

/// The kinds, as `--fault` and the `kind` label of `dryad_fault_active` spell them.
pub const KINDS: [&str; 7] = [
    "latency",
    "cpu",
    "leak",
    "cache",
    "missing-index",
    "write-lock",
    "crash",
];

impl Fault {
    /// The kind: `latency`, `cpu`, `leak`, `cache`, `missing-index`, `write-lock` or `crash`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::Cpu { .. } => "cpu",
            Fault::Leak { .. } => "leak",
            Fault::Cache { .. } => "cache",
            Fault::MissingIndex => "missing-index",
            Fault::WriteLock { .. } => "write-lock",
            Fault::Crash(_) => "crash",
        }
    }

    /// The route a per-request fault applies to.
    pub fn route(&self) -> Option<&str> {
        match self {
            Fault::Latency { route, .. }
            | Fault::Cpu { route, .. }
            | Fault::Leak { route, .. }
            | Fault::Cache { route, .. } => Some(route),
            Fault::MissingIndex | Fault::WriteLock { .. } | Fault::Crash(_) => None,
        }
    }
}

impl fmt::Display for Fault {
    /// The spec again, in canonical form (what the start-up WARN lists).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        match self {
            Fault::Latency { route, delay } => write!(f, "latency:route={route},ms={}", ms(delay)),
            Fault::Cpu { route, work } => write!(f, "cpu:route={route},ms={}", ms(work)),
            Fault::Leak { route, bytes } => write!(f, "leak:route={route},bytes={bytes}"),
            Fault::Cache {
                route,
                bytes,
                max_bytes,
            } => write!(
                f,
                "cache:route={route},bytes={bytes},max-mb={}",
                *max_bytes as f64 / MIB as f64
            ),
            Fault::MissingIndex => f.write_str("missing-index"),
            Fault::WriteLock { hold } => write!(f, "write-lock:ms={}", ms(hold)),
            Fault::Crash(CrashAfter::Requests(n)) => write!(f, "crash:after-requests={n}"),
            Fault::Crash(CrashAfter::Elapsed(d)) => {
                write!(f, "crash:after-secs={}", d.as_secs_f64())
            }
        }
    }
}

const MIB: usize = 1024 * 1024;

/// Why a `--fault` spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{spec:?}: {message}")]
pub struct FaultSpecError {
    /// The spec as given.
    pub spec: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// The `key=value` pairs of a spec, each used once and none left over.
struct Params<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Params<'a> {
    fn parse(text: &'a str) -> Result<Self, String> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for part in text.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(format!("{k} is given twice"));
            }
            pairs.push((k, v));
        }
        Ok(Params { pairs })
    }

    fn none() -> Self {
        Params { pairs: Vec::new() }
    }

    fn take(&mut self, key: &str) -> Option<&'a str> {
        let at = self.pairs.iter().position(|(k, _)| *k == key)?;
        Some(self.pairs.remove(at).1)
    }

    fn require(&mut self, key: &str, what: &str) -> Result<&'a str, String> {
        self.take(key)
            .ok_or_else(|| format!("needs {key}=<{what}>"))
    }

    fn finish(self, usage: &str) -> Result<(), String> {
        match self.pairs.first() {
            None => Ok(()),
            Some((k, _)) => Err(format!("unknown key {k:?} (expected {usage})")),
        }
    }
}

fn route(p: &mut Params<'_>) -> Result<String, String> {
    let r = p.require("route", "route template")?;
    if !r.starts_with('/') {
        return Err(format!(
            "route {r:?} must be a route template starting with '/'"
        ));
    }
    Ok(r.to_owned())
}

fn positive_ms(p: &mut Params<'_>, key: &str) -> Result<Duration, String> {
    let raw = p.require(key, "milliseconds")?;
    let v: f64 = raw
        .parse()
        .map_err(|_| format!("{key}={raw:?} is not a number of milliseconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 600_000.0) {
        return Err(format!(
            "{key}={raw} must be above 0 and at most 600000 (10 minutes)"
        ));
    }
    Ok(Duration::from_secs_f64(v / 1000.0))
}

fn positive_int(p: &mut Params<'_>, key: &str, max: u64) -> Result<u64, String> {
    let raw = p.require(key, "count")?;
    let v: u64 = raw
        .parse()
        .map_err(|_| format!("{key}={raw:?} is not a whole number"))?;
    if v == 0 || v > max {
        return Err(format!("{key}={raw} must be between 1 and {max}"));
    }
    Ok(v)
}

/// Most bytes one request may leak or cache (64 MiB).
const MAX_BYTES_PER_REQUEST: u64 = 64 * MIB as u64;

impl FromStr for Fault {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |message: String| FaultSpecError {
            spec: spec.to_owned(),
            message,
        };
        let (kind, rest) = match spec.split_once(':') {
            Some((k, r)) => (k.trim(), Some(r)),
            None => (spec.trim(), None),
        };
        let mut p = match rest {
            Some(r) => Params::parse(r).map_err(err)?,
            None => Params::none(),
        };
        let fault = match kind {
            "latency" => Fault::Latency {
                route: route(&mut p).map_err(err)?,
                delay: positive_ms(&mut p, "ms").map_err(err)?,
            },
            "cpu" => Fault::Cpu {
                route: route(&mut p).map_err(err)?,
                work: positive_ms(&mut p, "ms").map_err(err)?,
            },
            "leak" => Fault::Leak {
                route: route(&mut p).map_err(err)?,
                bytes: bytes(&mut p).map_err(err)?,
            },
            "cache" => {
                let route = route(&mut p).map_err(err)?;
                let bytes = bytes(&mut p).map_err(err)?;
                let max_mb = positive_int(&mut p, "max-mb", 64 * 1024).map_err(err)?;
                let max_bytes = usize::try_from(max_mb).unwrap_or(usize::MAX) * MIB;
                if bytes > max_bytes {
                    return Err(err(format!(
                        "bytes={bytes} is more than the whole cache (max-mb={max_mb})"
                    )));
                }
                Fault::Cache {
                    route,
                    bytes,
                    max_bytes,
                }
            }
            "missing-index" => Fault::MissingIndex,
            "write-lock" => Fault::WriteLock {
                hold: positive_ms(&mut p, "ms").map_err(err)?,
            },
            "crash" => {
                let after = match (p.take("after-requests"), p.take("after-secs")) {
                    (Some(_), Some(_)) => {
                        return Err(err(
                            "give after-requests=N or after-secs=T, not both".to_owned()
                        ));
                    }
                    (Some(n), None) => {
                        let n: u64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            err(format!("after-requests={n:?} must be a whole number >= 1"))
                        })?;
                        CrashAfter::Requests(n)
                    }
                    (None, Some(t)) => {
                        let secs: f64 = t
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                            .ok_or_else(|| {
                                err(format!(
                                    "after-secs={t:?} must be a number of seconds above 0 \
                                     (at most 86400)"
                                ))
                            })?;
                        CrashAfter::Elapsed(Duration::from_secs_f64(secs))
                    }
                    (None, None) => {
                        return Err(err("needs after-requests=<N> or after-secs=<T>".to_owned()));
                    }
                };
                Fault::Crash(after)
            }
            other => {
                return Err(err(format!(
                    "unknown fault kind {other:?}; known: {}",
                    KINDS.join(", ")
                )));
            }
        };
        let usage = match fault.kind() {
            "latency" | "cpu" => "route, ms",
            "leak" => "route, bytes",
            "cache" => "route, bytes, max-mb",
            "write-lock" => "ms",
            "crash" => "after-requests or after-secs",
            _ => "no keys",
        };
        p.finish(usage).map_err(err)?;
        Ok(fault)
    }
}

fn bytes(p: &mut Params<'_>) -> Result<usize, String> {
    let n = positive_int(p, "bytes", MAX_BYTES_PER_REQUEST)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "/api/v1/agent-studio/agents/{agent_id}/executions";

    fn parse(s: &str) -> Result<Fault, String> {
        s.parse::<Fault>().map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_kind_and_prints_it_back() {
        for (spec, fault) in [
            (
                format!("latency:route={HISTORY},ms=200"),
                Fault::Latency {
                    route: HISTORY.to_owned(),
                    delay: Duration::from_millis(200),
                },
            ),
            (
                "cpu:route=/health,ms=2.5".to_owned(),
                Fault::Cpu {
                    route: "/health".to_owned(),
                    work: Duration::from_micros(2500),
                },
            ),
            (
                "leak:route=/health,bytes=65536".to_owned(),
                Fault::Leak {
                    route: "/health".to_owned(),
                    bytes: 65536,
                },
            ),
            (
                "cache:route=/health,bytes=1024,max-mb=8".to_owned(),
                Fault::Cache {
                    route: "/health".to_owned(),
                    bytes: 1024,
                    max_bytes: 8 * MIB,
                },
            ),
            ("missing-index".to_owned(), Fault::MissingIndex),
            (
                "write-lock:ms=50".to_owned(),
                Fault::WriteLock {
                    hold: Duration::from_millis(50),
                },
            ),
            (
                "crash:after-requests=100".to_owned(),
                Fault::Crash(CrashAfter::Requests(100)),
            ),
            (
                "crash:after-secs=1.5".to_owned(),
                Fault::Crash(CrashAfter::Elapsed(Duration::from_millis(1500))),
            ),
        ] {
            assert_eq!(parse(&spec), Ok(fault.clone()), "{spec}");
            assert_eq!(fault.to_string(), spec);
            assert!(KINDS.contains(&fault.kind()));
        }
        // Keys in any order, spaces around them.
        assert_eq!(
            parse("latency: ms=5 , route=/health"),
            parse("latency:route=/health,ms=5")
        );
    }

    #[test]
    fn refuses_bad_specs_with_the_reason() {
        for (spec, needle) in [
            ("", "unknown fault kind \"\""),
            (
                "slow:route=/x,ms=1",
                "unknown fault kind \"slow\"; known: latency, cpu",
            ),
            ("latency", "needs route=<route template>"),
            ("latency:route=/health", "needs ms=<milliseconds>"),
            (
                "latency:route=health,ms=5",
                "must be a route template starting with '/'",
            ),
            ("latency:route=/health,ms=0", "must be above 0"),
            ("latency:route=/health,ms=-3", "must be above 0"),
            ("latency:route=/health,ms=NaN", "must be above 0"),
            (
                "latency:route=/health,ms=fast",
                "is not a number of milliseconds",
            ),
            ("latency:route=/health,ms=5,ms=6", "ms is given twice"),
            (
                "latency:route=/health,ms=5,extra=1",
                "unknown key \"extra\" (expected route, ms)",
            ),
            ("latency:route=/health,ms", "\"ms\" is not key=value"),
            ("leak:route=/health,bytes=0", "between 1 and"),
            ("leak:route=/health,bytes=1e6", "is not a whole number"),
            ("leak:route=/health,bytes=99999999999", "between 1 and"),
            ("cache:route=/health,bytes=10", "needs max-mb=<count>"),
            (
                "cache:route=/health,bytes=2097152,max-mb=1",
                "more than the whole cache",
            ),
            (
                "missing-index:table=x",
                "unknown key \"table\" (expected no keys)",
            ),
            ("write-lock", "needs ms=<milliseconds>"),
            ("crash", "needs after-requests=<N> or after-secs=<T>"),
            ("crash:after-requests=0", "must be a whole number >= 1"),
            ("crash:after-secs=0", "above 0"),
            ("crash:after-requests=5,after-secs=5", "not both"),
        ] {
            let e = parse(spec).expect_err(spec);
            assert!(e.contains(needle), "{spec:?}: {e}");
            assert!(e.starts_with(&format!("{spec:?}: ")), "{spec:?}: {e}");
        }
    }
}
