//! Opt-in planted faults (`dryad serve --fault SPEC`), for calibrating a load-testing tool's
//! findings on causes that are known: added latency, CPU work, a memory leak and a bounded cache
//! on one route, a missing index, write-lock contention, and a crash.
//!
//! Off by default and free when off: with no fault the router gets no extra layer and the
//! handlers test one `Option`. Every active fault is logged as a WARN at start
//! ([`Faults::log_active`]) and exported on `/metrics` as `dryad_fault_active{kind=...}`.
//!
//! [`spec`] parses `--fault`, [`effects`] does the per-request work (the middleware),
//! [`schema`] the index change at start, [`write_lock`] the held write transaction.

pub mod effects;
pub mod schema;
pub mod spec;
pub mod write_lock;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use utoipa::OpenApi as _;

pub use spec::{CRASH_EXIT_CODE, CrashAfter, Fault, FaultSpecError, HELP, KINDS};

use crate::api::openapi::ApiDoc;
use effects::Memory;

/// A set of faults that can be active together, with the state they keep (leaked memory, the
/// cache, the request count of `crash`). Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Faults {
    list: Vec<Fault>,
    memory: Memory,
    requests: std::sync::atomic::AtomicU64,
}

/// Why a set of faults cannot be planted together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSetError {
    /// A route fault names a route the service does not have.
    #[error("{spec}: no route {route:?}; routes: {known}")]
    UnknownRoute {
        /// The fault.
        spec: String,
        /// The route it named.
        route: String,
        /// The routes there are.
        known: String,
    },
    /// Two faults of a kind that can only be planted once (or once per route).
    #[error("{first} and {second} conflict: {why}")]
    Conflict {
        /// The first.
        first: String,
        /// The second.
        second: String,
        /// Why.
        why: &'static str,
    },
}

/// The route templates the service answers (the OpenAPI document's paths).
pub fn known_routes() -> Vec<String> {
    ApiDoc::openapi().paths.paths.keys().cloned().collect()
}

impl Faults {
    /// Checks that the faults name real routes and do not conflict.
    pub fn new(list: Vec<Fault>) -> Result<Self, FaultSetError> {
        let routes = known_routes();
        for f in &list {
            if let Some(route) = f.route()
                && !routes.iter().any(|r| r == route)
            {
                return Err(FaultSetError::UnknownRoute {
                    spec: f.to_string(),
                    route: route.to_owned(),
                    known: routes.join(", "),
                });
            }
        }
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                let why = match (a, b) {
                    _ if a.kind() != b.kind() => continue,
                    (Fault::MissingIndex, _) => "missing-index is given twice",
                    (Fault::WriteLock { .. }, _) => "write-lock can be planted once",
                    (Fault::Crash(_), _) => "crash can be planted once",
                    _ if a.route() == b.route() => "the same kind is planted twice on one route",
                    _ => continue,
                };
                return Err(FaultSetError::Conflict {
                    first: a.to_string(),
                    second: b.to_string(),
                    why,
                });
            }
        }
        Ok(Faults {
            list,
            memory: Memory::default(),
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The faults, in the order given.
    pub fn list(&self) -> &[Fault] {
        &self.list
    }

    /// True when no fault is planted.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether any fault acts per request (then the router needs the fault middleware).
    pub fn needs_middleware(&self) -> bool {
        self.list
            .iter()
            .any(|f| f.route().is_some() || matches!(f, Fault::Crash(CrashAfter::Requests(_))))
    }

    /// Whether the history indexes are to be dropped.
    pub fn missing_index(&self) -> bool {
        self.list.iter().any(|f| matches!(f, Fault::MissingIndex))
    }

    /// How long each execute holds its write transaction, if `write-lock` is planted.
    pub fn write_lock_hold(&self) -> Option<Duration> {
        self.list.iter().find_map(|f| match f {
            Fault::WriteLock { hold } => Some(*hold),
            _ => None,
        })
    }

    /// The `crash:after-secs` delay, if planted.
    pub fn crash_after(&self) -> Option<Duration> {
        self.list.iter().find_map(|f| match f {
            Fault::Crash(CrashAfter::Elapsed(d)) => Some(*d),
            _ => None,
        })
    }

    /// Logs one WARN per active fault and a summary line; nothing when none is active.
    pub fn log_active(&self) {
        if self.list.is_empty() {
            return;
        }
        for f in &self.list {
            tracing::warn!(fault = %f, "FAULT PLANTED: {}", describe(f));
        }
        tracing::warn!(
            count = self.list.len(),
            "{} planted fault(s) active: this instance is deliberately degraded; \
             its measurements are of the faults, not of dryad",
            self.list.len()
        );
    }

    /// The faults' part of the `/metrics` exposition: `dryad_fault_active` for every kind (0
    /// when not planted) and the memory the leak and the cache hold.
    pub fn render_metrics(faults: Option<&Self>, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP dryad_fault_active Planted faults (--fault) active, by kind; 0 in normal \
             operation.\n# TYPE dryad_fault_active gauge"
        );
        for kind in KINDS {
            let n = faults.map_or(0, |f| f.list.iter().filter(|x| x.kind() == kind).count());
            let _ = writeln!(out, "dryad_fault_active{{kind=\"{kind}\"}} {n}");
        }
        let (leaked, cached) = faults.map_or((0, 0), |f| f.memory.held());
        let _ = writeln!(
            out,
            "# HELP dryad_fault_leaked_bytes Bytes kept forever by the leak fault.\n\
             # TYPE dryad_fault_leaked_bytes gauge\ndryad_fault_leaked_bytes {leaked}\n\
             # HELP dryad_fault_cache_bytes Bytes held by the bounded cache fault.\n\
             # TYPE dryad_fault_cache_bytes gauge\ndryad_fault_cache_bytes {cached}"
        );
    }
}

fn describe(f: &Fault) -> String {
    match f {
        Fault::Latency { route, delay } => format!("{route} sleeps {delay:?} per request"),
        Fault::Cpu { route, work } => format!("{route} burns {work:?} of CPU per request"),
        Fault::Leak { route, bytes } => {
            format!("{route} leaks {bytes} bytes per request (never freed)")
        }
        Fault::Cache {
            route,
            bytes,
            max_bytes,
        } => format!("{route} caches {bytes} bytes per request, bounded at {max_bytes} bytes"),
        Fault::MissingIndex => "the history indexes are dropped: history listings scan the \
                                executions table"
            .to_owned(),
        Fault::WriteLock { hold } => {
            format!("every execute holds the write lock {hold:?} after its insert")
        }
        Fault::Crash(CrashAfter::Requests(n)) => {
            format!("the process exits (code {CRASH_EXIT_CODE}) on its {n}th /api/ request")
        }
        Fault::Crash(CrashAfter::Elapsed(d)) => {
            format!("the process exits (code {CRASH_EXIT_CODE}) {d:?} after it starts listening")
        }
    }
}

/// Exits the process now, as the `crash` fault does: no drain, no destructors.
pub fn crash(why: &str) -> ! {
    tracing::error!(
        code = CRASH_EXIT_CODE,
        "FAULT crash: exiting abruptly ({why})"
    );
    std::process::exit(CRASH_EXIT_CODE)
}

/// Starts the `crash:after-secs` timer, if planted.
pub fn spawn_crash_timer(faults: &Arc<Faults>) {
    if let Some(after) = faults.crash_after() {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            crash(&format!("{after:?} after start"));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(specs: &[&str]) -> Result<Faults, FaultSetError> {
        Faults::new(specs.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn routes_must_exist() {
        let e = set(&["latency:route=/api/v1/nope,ms=5"]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no route \"/api/v1/nope\""), "{text}");
        assert!(
            text.contains("/api/v1/agent-studio/agents/{agent_id}/executions"),
            "{text}"
        );
        assert!(
            set(&["latency:route=/api/v1/agent-studio/agents/{agent_id}/executions,ms=5"]).is_ok()
        );
    }

    #[test]
    fn conflicts_are_refused_and_combinations_allowed() {
        for specs in [
            &["missing-index", "missing-index"][..],
            &["write-lock:ms=5", "write-lock:ms=6"],
            &["crash:after-secs=5", "crash:after-requests=5"],
            &["latency:route=/health,ms=5", "latency:route=/health,ms=6"],
        ] {
            assert!(
                matches!(set(specs), Err(FaultSetError::Conflict { .. })),
                "{specs:?}"
            );
        }
        let ok = set(&[
            "latency:route=/health,ms=5",
            "latency:route=/ready,ms=5",
            "cpu:route=/health,ms=1",
            "missing-index",
            "write-lock:ms=5",
            "crash:after-secs=60",
        ])
        .unwrap();
        assert!(ok.needs_middleware() && ok.missing_index());
        assert_eq!(ok.write_lock_hold(), Some(Duration::from_millis(5)));
        assert_eq!(ok.crash_after(), Some(Duration::from_secs(60)));
        let schema_only = set(&["missing-index", "write-lock:ms=1"]).unwrap();
        assert!(!schema_only.needs_middleware());
    }

    #[test]
    fn metrics_show_every_kind() {
        let mut none = String::new();
        Faults::render_metrics(None, &mut none);
        for kind in KINDS {
            assert!(
                none.contains(&format!("dryad_fault_active{{kind=\"{kind}\"}} 0\n")),
                "{none}"
            );
        }
        let f = set(&[
            "missing-index",
            "latency:route=/health,ms=5",
            "latency:route=/ready,ms=5",
        ])
        .unwrap();
        let mut some = String::new();
        Faults::render_metrics(Some(&f), &mut some);
        assert!(
            some.contains("dryad_fault_active{kind=\"latency\"} 2\n"),
            "{some}"
        );
        assert!(
            some.contains("dryad_fault_active{kind=\"missing-index\"} 1\n"),
            "{some}"
        );
        assert!(
            some.contains("dryad_fault_active{kind=\"crash\"} 0\n"),
            "{some}"
        );
        assert!(some.contains("dryad_fault_leaked_bytes 0\n"), "{some}");
    }
}
