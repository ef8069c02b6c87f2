//! The service's Prometheus metrics, rendered in the text exposition format 0.0.4.
//!
//! Hand-written rather than taken from a metrics crate: the set is small and fixed, process
//! CPU/memory are read at scrape time (which counter types of the registry crates cannot
//! express), the registry belongs to one [`Metrics`] value per service (no global recorder, so
//! tests run many services in one process), and the hot path is atomics plus one read lock.

pub mod connections;
pub mod histogram;
pub mod process;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use connections::ConnectionCounters;
pub use histogram::Histogram;
use histogram::{LATENCY_BUCKETS, POOL_WAIT_BUCKETS};

use crate::auth::{HasherReading, ThrottleReason};
use crate::db::PoolRole;
use crate::model::Status;

/// Method, route template and status code of a response.
type HttpKey = (String, String, u16);

#[derive(Debug)]
struct HttpSeries {
    requests: AtomicU64,
    duration: Histogram,
}

/// A point-in-time reading of one connection pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolReading {
    /// Configured maximum.
    pub max: u32,
    /// Open connections.
    pub size: u32,
    /// Open and not checked out.
    pub idle: u32,
}

/// Every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    http: RwLock<HashMap<HttpKey, Arc<HttpSeries>>>,
    in_flight: AtomicI64,
    /// By [`PoolRole`]: API, worker.
    pool_acquire_wait: [Histogram; 2],
    /// By [`PoolRole`] of the waiting side.
    write_wait: [Histogram; 2],
    queue_depth: AtomicI64,
    workers_busy: AtomicI64,
    workers_current: AtomicI64,
    workers_desired: AtomicI64,
    scale_up: AtomicU64,
    scale_down: AtomicU64,
    executions_created: AtomicU64,
    finished_completed: AtomicU64,
    finished_failed: AtomicU64,
    requeued_shutdown: AtomicU64,
    requeued_lease: AtomicU64,
    login_success: AtomicU64,
    login_failure: AtomicU64,
    /// Logins refused before hashing: username limit, address limit, hashing queue full.
    login_throttled: [AtomicU64; 3],
    /// Executes with an `Idempotency-Key`: new, replayed, refused (key reused with another body).
    idempotent: [AtomicU64; 3],
    idempotency_keys_purged: AtomicU64,
    /// The HTTP server's connections and timeouts.
    pub connections: ConnectionCounters,
    start_time_seconds: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What an execute with an `Idempotency-Key` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    /// First use of the key: a new execution.
    New = 0,
    /// The key was known with the same body: the first execution, again.
    Replayed = 1,
    /// The key was known with another body: 422.
    Mismatch = 2,
}

/// Why an execution went back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequeueReason {
    /// The service was stopping.
    Shutdown,
    /// A worker's lease ran out (it crashed or hung).
    LeaseExpired,
}

impl Metrics {
    /// All zeros.
    pub fn new() -> Self {
        Metrics {
            http: RwLock::new(HashMap::new()),
            in_flight: AtomicI64::new(0),
            pool_acquire_wait: [(); 2].map(|()| Histogram::new(POOL_WAIT_BUCKETS)),
            write_wait: [(); 2].map(|()| Histogram::new(POOL_WAIT_BUCKETS)),
            queue_depth: AtomicI64::new(0),
            workers_busy: AtomicI64::new(0),
            workers_current: AtomicI64::new(0),
            workers_desired: AtomicI64::new(0),
            scale_up: AtomicU64::new(0),
            scale_down: AtomicU64::new(0),
            executions_created: AtomicU64::new(0),
            finished_completed: AtomicU64::new(0),
            finished_failed: AtomicU64::new(0),
            requeued_shutdown: AtomicU64::new(0),
            requeued_lease: AtomicU64::new(0),
            login_success: AtomicU64::new(0),
            login_failure: AtomicU64::new(0),
            login_throttled: [(); 3].map(|()| AtomicU64::new(0)),
            idempotent: [(); 3].map(|()| AtomicU64::new(0)),
            idempotency_keys_purged: AtomicU64::new(0),
            connections: ConnectionCounters::default(),
            start_time_seconds: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }

    /// Counts one finished HTTP request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let key = (method.to_owned(), route.to_owned(), status);
        let series = {
            let read = self.http.read().unwrap_or_else(|e| e.into_inner());
            read.get(&key).cloned()
        };
        let series = series.unwrap_or_else(|| {
            let mut write = self.http.write().unwrap_or_else(|e| e.into_inner());
            write
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(HttpSeries {
                        requests: AtomicU64::new(0),
                        duration: Histogram::new(LATENCY_BUCKETS),
                    })
                })
                .clone()
        });
        series.requests.fetch_add(1, Ordering::Relaxed);
        series.duration.observe(took);
    }

    /// A request started (+1) or ended (-1).
    pub fn add_in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// One wait for a connection of `role`'s pool.
    pub fn observe_pool_acquire(&self, role: PoolRole, waited: Duration) {
        self.pool_acquire_wait[slot(role)].observe(waited);
    }

    /// One wait of `role` for SQLite's single-writer connection.
    pub fn observe_write_wait(&self, role: PoolRole, waited: Duration) {
        self.write_wait[slot(role)].observe(waited);
    }

    /// Waits for a connection of `role`'s pool so far.
    pub fn pool_acquire_count(&self, role: PoolRole) -> u64 {
        self.pool_acquire_wait[slot(role)].count()
    }

    /// Latest queue depth (PENDING executions).
    pub fn set_queue_depth(&self, n: i64) {
        self.queue_depth.store(n, Ordering::Relaxed);
    }

    /// A worker started (+1) or stopped (-1) running an execution.
    pub fn add_workers_busy(&self, delta: i64) {
        self.workers_busy.fetch_add(delta, Ordering::Relaxed);
    }

    /// Workers alive now.
    pub fn set_workers_current(&self, n: usize) {
        self.workers_current
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Workers the autoscaler wants.
    pub fn set_workers_desired(&self, n: usize) {
        self.workers_desired
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// One scale decision that changed the worker count.
    pub fn count_scale(&self, up: bool) {
        if up { &self.scale_up } else { &self.scale_down }.fetch_add(1, Ordering::Relaxed);
    }

    /// One execution accepted.
    pub fn count_created(&self) {
        self.executions_created.fetch_add(1, Ordering::Relaxed);
    }

    /// One execution finished with `status` (COMPLETED or FAILED).
    pub fn count_finished(&self, status: Status) {
        match status {
            Status::Failed => &self.finished_failed,
            _ => &self.finished_completed,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// `n` executions returned to the queue.
    pub fn count_requeued(&self, reason: RequeueReason, n: u64) {
        match reason {
            RequeueReason::Shutdown => &self.requeued_shutdown,
            RequeueReason::LeaseExpired => &self.requeued_lease,
        }
        .fetch_add(n, Ordering::Relaxed);
    }

    /// One login attempt.
    pub fn count_login(&self, success: bool) {
        if success {
            &self.login_success
        } else {
            &self.login_failure
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// One login refused by a failed-attempt limit (`Some`) or by a full hashing queue (`None`).
    pub fn count_login_throttled(&self, reason: Option<ThrottleReason>) {
        let i = match reason {
            Some(ThrottleReason::Username) => 0,
            Some(ThrottleReason::Address) => 1,
            None => 2,
        };
        self.login_throttled[i].fetch_add(1, Ordering::Relaxed);
    }

    /// One execute with an `Idempotency-Key`, by what it did.
    pub fn count_idempotent(&self, outcome: IdempotencyOutcome) {
        self.idempotent[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `n` expired idempotency keys deleted.
    pub fn count_idempotency_purged(&self, n: u64) {
        self.idempotency_keys_purged.fetch_add(n, Ordering::Relaxed);
    }

    /// The password hasher's gauges, appended to an exposition.
    pub fn render_hasher(out: &mut String, r: HasherReading) {
        gauge(
            out,
            "dryad_password_hash_permits_max",
            "Password hashes that may run at once (--hash-concurrency).",
            r.permits_max,
        );
        gauge(
            out,
            "dryad_password_hash_permits_in_use",
            "Password hashes running now.",
            r.permits_in_use,
        );
        gauge(
            out,
            "dryad_password_hash_waiting",
            "Logins waiting for a hashing permit.",
            r.waiting,
        );
        gauge(
            out,
            "dryad_password_hash_queue_limit",
            "Most logins allowed to wait (--login-queue-max); beyond it: 503.",
            r.queue_limit,
        );
    }

    /// Workers busy now.
    pub fn workers_busy(&self) -> i64 {
        self.workers_busy.load(Ordering::Relaxed)
    }

    /// The text exposition of every metric, with a reading of each pool.
    pub fn render(&self, pools: &[(PoolRole, PoolReading)]) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.render_http(&mut out);
        gauge(
            &mut out,
            "dryad_http_requests_in_flight",
            "HTTP requests being served.",
            self.in_flight.load(Ordering::Relaxed),
        );
        self.connections.render(&mut out);

        self.render_pools(&mut out, pools);

        let load = |a: &AtomicI64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "dryad_queue_depth",
            "PENDING executions waiting for a worker.",
            load(&self.queue_depth),
        );
        gauge(
            &mut out,
            "dryad_workers_busy",
            "Workers running an execution.",
            load(&self.workers_busy),
        );
        gauge(
            &mut out,
            "dryad_workers_current",
            "Workers alive.",
            load(&self.workers_current),
        );
        gauge(
            &mut out,
            "dryad_workers_desired",
            "Workers the autoscaler wants.",
            load(&self.workers_desired),
        );
        let counter_u = |a: &AtomicU64| a.load(Ordering::Relaxed);
        labelled_counter(
            &mut out,
            "dryad_autoscaler_scale_events_total",
            "Autoscaler decisions that changed the worker count.",
            "direction",
            &[
                ("up", counter_u(&self.scale_up)),
                ("down", counter_u(&self.scale_down)),
            ],
        );
        header(
            &mut out,
            "dryad_executions_created_total",
            "counter",
            "Executions accepted.",
        );
        let _ = writeln!(
            out,
            "dryad_executions_created_total {}",
            counter_u(&self.executions_created)
        );
        labelled_counter(
            &mut out,
            "dryad_executions_finished_total",
            "Executions finished, by final status.",
            "status",
            &[
                ("COMPLETED", counter_u(&self.finished_completed)),
                ("FAILED", counter_u(&self.finished_failed)),
            ],
        );
        labelled_counter(
            &mut out,
            "dryad_executions_requeued_total",
            "Executions returned to the queue.",
            "reason",
            &[
                ("shutdown", counter_u(&self.requeued_shutdown)),
                ("lease_expired", counter_u(&self.requeued_lease)),
            ],
        );
        labelled_counter(
            &mut out,
            "dryad_logins_total",
            "Login attempts by outcome.",
            "outcome",
            &[
                ("success", counter_u(&self.login_success)),
                ("failure", counter_u(&self.login_failure)),
            ],
        );
        labelled_counter(
            &mut out,
            "dryad_login_throttled_total",
            "Logins refused before hashing: too many failures for the username or from the \
             address (429), or the hashing queue full (503).",
            "reason",
            &[
                ("username", counter_u(&self.login_throttled[0])),
                ("address", counter_u(&self.login_throttled[1])),
                ("queue_full", counter_u(&self.login_throttled[2])),
            ],
        );
        labelled_counter(
            &mut out,
            "dryad_idempotent_executes_total",
            "Executes with an Idempotency-Key: a new execution, a replay of the first, or \
             refused (the key was used with another body).",
            "outcome",
            &[
                ("new", counter_u(&self.idempotent[0])),
                ("replayed", counter_u(&self.idempotent[1])),
                ("mismatch", counter_u(&self.idempotent[2])),
            ],
        );
        header(
            &mut out,
            "dryad_idempotency_keys_purged_total",
            "counter",
            "Expired idempotency keys deleted.",
        );
        let _ = writeln!(
            out,
            "dryad_idempotency_keys_purged_total {}",
            counter_u(&self.idempotency_keys_purged)
        );

        header(
            &mut out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time.",
        );
        let _ = writeln!(out, "process_cpu_seconds_total {}", process::cpu_seconds());
        gauge(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory size.",
            process::resident_memory_bytes(),
        );
        header(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time since the epoch.",
        );
        let _ = writeln!(
            out,
            "process_start_time_seconds {}",
            self.start_time_seconds
        );
        out
    }

    fn render_pools(&self, out: &mut String, pools: &[(PoolRole, PoolReading)]) {
        let per_pool =
            |out: &mut String, name: &str, help: &str, value: fn(&PoolReading) -> u32| {
                header(out, name, "gauge", help);
                for (role, reading) in pools {
                    let _ = writeln!(
                        out,
                        "{name}{{pool=\"{}\"}} {}",
                        role.label(),
                        value(reading)
                    );
                }
            };
        per_pool(
            out,
            "dryad_db_pool_max_connections",
            "Configured pool maximum (pool=\"api\": --pool-size, \"worker\": --worker-pool-size).",
            |r| r.max,
        );
        per_pool(
            out,
            "dryad_db_pool_size",
            "Open database connections.",
            |r| r.size,
        );
        header(
            out,
            "dryad_db_pool_connections",
            "gauge",
            "Open connections by state.",
        );
        for (role, r) in pools {
            let pool = role.label();
            let in_use = r.size.saturating_sub(r.idle);
            let _ = writeln!(
                out,
                "dryad_db_pool_connections{{pool=\"{pool}\",state=\"in_use\"}} {in_use}"
            );
            let _ = writeln!(
                out,
                "dryad_db_pool_connections{{pool=\"{pool}\",state=\"idle\"}} {}",
                r.idle
            );
        }
        header(
            out,
            "dryad_db_pool_acquire_wait_seconds",
            "histogram",
            "Time waiting for a pooled connection.",
        );
        for role in PoolRole::ALL {
            self.pool_acquire_wait[slot(role)].render(
                out,
                "dryad_db_pool_acquire_wait_seconds",
                &format!("pool=\"{}\"", role.label()),
            );
        }
        header(
            out,
            "dryad_db_write_wait_seconds",
            "histogram",
            "SQLite: time waiting for the single-writer connection, by the side that waited \
             (empty on PostgreSQL).",
        );
        for role in PoolRole::ALL {
            self.write_wait[slot(role)].render(
                out,
                "dryad_db_write_wait_seconds",
                &format!("pool=\"{}\"", role.label()),
            );
        }
    }

    fn render_http(&self, out: &mut String) {
        // Sorted for a stable, diff-friendly exposition.
        let series: BTreeMap<HttpKey, Arc<HttpSeries>> = {
            let read = self.http.read().unwrap_or_else(|e| e.into_inner());
            read.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        header(
            out,
            "dryad_http_requests_total",
            "counter",
            "HTTP requests served.",
        );
        for ((method, route, status), s) in &series {
            let _ = writeln!(
                out,
                "dryad_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                s.requests.load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "dryad_http_request_duration_seconds",
            "histogram",
            "HTTP request latency, from the first byte in to the response head out.",
        );
        for ((method, route, status), s) in &series {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            s.duration
                .render(out, "dryad_http_request_duration_seconds", &labels);
        }
    }
}

fn slot(role: PoolRole) -> usize {
    match role {
        PoolRole::Api => 0,
        PoolRole::Worker => 1,
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn labelled_counter(out: &mut String, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    header(out, name, "counter", help);
    for (v, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{v}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_series() {
        let m = Metrics::new();
        m.observe_request("GET", "/health", 200, Duration::from_millis(3));
        m.observe_request("GET", "/health", 200, Duration::from_millis(4));
        m.observe_pool_acquire(PoolRole::Api, Duration::from_micros(20));
        m.observe_pool_acquire(PoolRole::Worker, Duration::from_micros(30));
        m.observe_pool_acquire(PoolRole::Worker, Duration::from_micros(40));
        m.set_queue_depth(7);
        m.set_workers_desired(3);
        let text = m.render(&[
            (
                PoolRole::Api,
                PoolReading {
                    max: 8,
                    size: 3,
                    idle: 1,
                },
            ),
            (
                PoolRole::Worker,
                PoolReading {
                    max: 4,
                    size: 4,
                    idle: 0,
                },
            ),
        ]);
        for needle in [
            "dryad_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2\n",
            "dryad_http_request_duration_seconds_count{method=\"GET\",route=\"/health\",status=\"200\"} 2\n",
            "dryad_http_requests_in_flight 0\n",
            "dryad_db_pool_max_connections{pool=\"api\"} 8\n",
            "dryad_db_pool_max_connections{pool=\"worker\"} 4\n",
            "dryad_db_pool_size{pool=\"worker\"} 4\n",
            "dryad_db_pool_connections{pool=\"api\",state=\"in_use\"} 2\n",
            "dryad_db_pool_connections{pool=\"api\",state=\"idle\"} 1\n",
            "dryad_db_pool_connections{pool=\"worker\",state=\"in_use\"} 4\n",
            "dryad_db_pool_acquire_wait_seconds_count{pool=\"api\"} 1\n",
            "dryad_db_pool_acquire_wait_seconds_count{pool=\"worker\"} 2\n",
            "dryad_db_pool_acquire_wait_seconds_bucket{pool=\"api\",le=\"+Inf\"} 1\n",
            "dryad_db_write_wait_seconds_count{pool=\"worker\"} 0\n",
            "dryad_queue_depth 7\n",
            "dryad_workers_desired 3\n",
            "dryad_workers_current 0\n",
            "dryad_workers_busy 0\n",
            "dryad_executions_finished_total{status=\"COMPLETED\"} 0\n",
            "dryad_login_throttled_total{reason=\"queue_full\"} 0\n",
            "dryad_idempotent_executes_total{outcome=\"replayed\"} 0\n",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
