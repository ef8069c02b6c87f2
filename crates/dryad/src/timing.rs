//! Per-request time accounting behind the `Server-Timing` header.
//!
//! A request's wall time splits into three disjoint parts: `pool` (waiting for a database
//! connection and, on SQLite, for the single-writer permit), `db` (running statements) and `app` (everything else: routing, JSON, hashing,
//! token checks). The header reads `Server-Timing: pool;dur=0.012, db;dur=1.204, app;dur=0.310`
//! (milliseconds, three decimals).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Accumulates pool-wait and database time for one request; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RequestTiming {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    pool_nanos: AtomicU64,
    db_nanos: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RequestTiming {
    /// Adds time spent waiting for a pooled connection.
    pub fn add_pool(&self, d: Duration) {
        self.inner.pool_nanos.fetch_add(nanos(d), Ordering::Relaxed);
    }

    /// Adds time spent in database statements.
    pub fn add_db(&self, d: Duration) {
        self.inner.db_nanos.fetch_add(nanos(d), Ordering::Relaxed);
    }

    /// Runs `fut`, counting its whole duration as database time.
    pub async fn db<F: Future>(&self, fut: F) -> F::Output {
        let start = Instant::now();
        let out = fut.await;
        self.add_db(start.elapsed());
        out
    }

    /// Time waiting for connections so far.
    pub fn pool(&self) -> Duration {
        Duration::from_nanos(self.inner.pool_nanos.load(Ordering::Relaxed))
    }

    /// Time in statements so far.
    pub fn db_time(&self) -> Duration {
        Duration::from_nanos(self.inner.db_nanos.load(Ordering::Relaxed))
    }

    /// The `Server-Timing` header value for a request that took `total`.
    pub fn header_value(&self, total: Duration) -> String {
        let pool = self.pool();
        let db = self.db_time();
        let app = total.saturating_sub(pool).saturating_sub(db);
        format!(
            "pool;dur={:.3}, db;dur={:.3}, app;dur={:.3}",
            ms(pool),
            ms(db),
            ms(app)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_splits_total_into_disjoint_parts() {
        let t = RequestTiming::default();
        t.add_pool(Duration::from_micros(500));
        t.add_db(Duration::from_millis(2));
        t.add_db(Duration::from_millis(1));
        let v = t.header_value(Duration::from_millis(10));
        assert_eq!(v, "pool;dur=0.500, db;dur=3.000, app;dur=6.500");
    }

    #[test]
    fn app_never_negative() {
        let t = RequestTiming::default();
        t.add_db(Duration::from_millis(5));
        assert_eq!(
            t.header_value(Duration::from_millis(1)),
            "pool;dur=0.000, db;dur=5.000, app;dur=0.000"
        );
    }
}
