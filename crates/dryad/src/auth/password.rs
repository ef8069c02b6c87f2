//! argon2id password hashing on the blocking thread pool, with bounded concurrency and a
//! bounded queue.
//!
//! Each hash takes `m_cost` KiB of memory and `t_cost` passes over it: CPU-bound work of tens of
//! milliseconds that must not run on the async workers, and that must not take every core at
//! once (a login burst would starve the rest of the API), hence the semaphore. Callers that find
//! every permit taken wait in a queue of at most [`PasswordHasher::with_queue_limit`] entries;
//! beyond it they are refused at once with [`PasswordError::Busy`] and an estimate of when to
//! retry, instead of piling up without bound behind a CPU that cannot catch up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{Semaphore, SemaphorePermit};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl HashParams {
    /// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: HashParams = HashParams {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// The smallest legal parameters: for tests only, where hashing cost is noise.
    pub const TEST_ONLY: HashParams = HashParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };
}

/// Hashing failed (bad parameters, or a stored hash that is not a PHC string).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 rejected the parameters.
    #[error("invalid argon2 parameters {params:?}: {message}")]
    Params {
        /// What was asked.
        params: HashParams,
        /// argon2's reason.
        message: String,
    },
    /// Hashing failed.
    #[error("hashing failed: {0}")]
    Hash(String),
    /// The blocking task died.
    #[error("hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The semaphore was closed.
    #[error("password hasher is shut down")]
    Closed,
    /// Every permit is taken and the queue is full.
    #[error("{waiting} password checks already waiting for the {permits} hashing permits")]
    Busy {
        /// Callers waiting when this one was refused.
        waiting: usize,
        /// Hashing permits.
        permits: usize,
        /// When the queue should have room again (the queue's length at the mean hash time).
        retry_after: Duration,
    },
}

/// A reading of the hasher's permits and queue, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HasherReading {
    /// Hashes that may run at once.
    pub permits_max: usize,
    /// Hashes running now.
    pub permits_in_use: usize,
    /// Callers waiting for a permit.
    pub waiting: usize,
    /// Most callers allowed to wait.
    pub queue_limit: usize,
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: HashParams,
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Callers waiting for a permit now, and the most that may.
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
    /// Moving mean of one hash's wall time, microseconds (seeds the `Retry-After` estimate).
    mean_hash_micros: Arc<AtomicU64>,
    /// A hash of a random password, verified against when the user does not exist so that
    /// unknown users and wrong passwords take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher with `params`, running at most `concurrency` hashes at once, with no bound on
    /// the callers waiting (see [`PasswordHasher::with_queue_limit`]).
    pub fn new(params: HashParams, concurrency: usize) -> Result<Self, PasswordError> {
        let p =
            Params::new(params.m_cost_kib, params.t_cost, params.p_cost, None).map_err(|e| {
                PasswordError::Params {
                    params,
                    message: e.to_string(),
                }
            })?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let dummy = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let dummy_hash = hash_blocking(&argon, &dummy)?;
        let took = micros(started.elapsed());
        let concurrency = concurrency.max(1);
        Ok(PasswordHasher {
            argon,
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit: usize::MAX,
            mean_hash_micros: Arc::new(AtomicU64::new(took.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The same hasher letting at most `limit` callers wait for a permit (0: none wait; a
    /// caller that finds every permit taken is refused).
    #[must_use]
    pub fn with_queue_limit(mut self, limit: usize) -> Self {
        self.queue_limit = limit;
        self
    }

    /// Permits, their use and the queue now.
    pub fn reading(&self) -> HasherReading {
        HasherReading {
            permits_max: self.concurrency,
            permits_in_use: self
                .concurrency
                .saturating_sub(self.permits.available_permits()),
            waiting: self.waiting.load(Ordering::Relaxed),
            queue_limit: self.queue_limit,
        }
    }

    /// A permit now, or after waiting in the bounded queue; [`PasswordError::Busy`] when the
    /// queue is full.
    async fn permit(&self) -> Result<SemaphorePermit<'_>, PasswordError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let limit = self.queue_limit;
        let joined = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        let Err(waiting) = joined else {
            // Leaves the queue however the wait ends, cancellation included.
            let _in_queue = QueueSlot(&self.waiting);
            return self
                .permits
                .acquire()
                .await
                .map_err(|_| PasswordError::Closed);
        };
        Err(PasswordError::Busy {
            waiting,
            permits: self.concurrency,
            retry_after: self.queue_drain_time(waiting),
        })
    }

    /// How long `waiting` queued hashes take to run on every permit at the mean hash time.
    fn queue_drain_time(&self, waiting: usize) -> Duration {
        let mean = self.mean_hash_micros.load(Ordering::Relaxed);
        let rounds = u64::try_from(waiting.div_ceil(self.concurrency)).unwrap_or(u64::MAX);
        Duration::from_micros(mean.saturating_mul(rounds.max(1)))
    }

    /// Runs one hash (or verification) on the blocking pool and folds its time into the mean.
    async fn timed<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(job).await?;
        let took = micros(started.elapsed());
        // Mean over roughly the last 16 hashes: new = old + (sample - old) / 16.
        let _ = self
            .mean_hash_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                let old = i128::from(old);
                let new = old + (i128::from(took) - old) / 16;
                u64::try_from(new.max(1)).ok()
            });
        Ok(out)
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for `password`.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self.permit().await?;
        let argon = self.argon.clone();
        self.timed(move || hash_blocking(&argon, &password)).await?
    }

    /// Whether `password` matches `phc` (parameters are read from the PHC string). With
    /// `phc = None` a dummy hash is checked and `false` returned, in the same time.
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        let _permit = self.permit().await?;
        let argon = self.argon.clone();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .timed(move || {
                let Ok(parsed) = PasswordHash::new(&phc) else {
                    return false;
                };
                argon.verify_password(password.as_bytes(), &parsed).is_ok()
            })
            .await?;
        Ok(known && matched)
    }
}

/// One place in the hasher's queue, given back on drop.
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn hash_blocking(argon: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(HashParams::TEST_ONLY, 2).unwrap();
        let phc = h.hash("test123".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(h.verify("test123".into(), Some(phc.clone())).await.unwrap());
        assert!(!h.verify("test124".into(), Some(phc)).await.unwrap());
        assert!(!h.verify("test123".into(), None).await.unwrap());
        assert!(
            !h.verify("x".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_with_a_retry_estimate() {
        let h = PasswordHasher::new(HashParams::TEST_ONLY, 1)
            .unwrap()
            .with_queue_limit(1);
        // Hold the only permit so that callers must queue.
        let held = h.permits.try_acquire().unwrap();
        let first = {
            let h = h.clone();
            tokio::spawn(async move { h.verify("x".into(), None).await })
        };
        while h.reading().waiting == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            h.reading(),
            HasherReading {
                permits_max: 1,
                permits_in_use: 1,
                waiting: 1,
                queue_limit: 1
            }
        );
        match h.verify("y".into(), None).await {
            Err(PasswordError::Busy {
                waiting: 1,
                permits: 1,
                retry_after,
            }) => assert!(retry_after > Duration::ZERO),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        assert!(!first.await.unwrap().unwrap());
        assert_eq!(h.reading().waiting, 0);
        assert_eq!(h.reading().permits_in_use, 0);
    }

    #[test]
    fn rejects_bad_params() {
        let bad = HashParams {
            m_cost_kib: 1,
            t_cost: 1,
            p_cost: 1,
        };
        assert!(matches!(
            PasswordHasher::new(bad, 1),
            Err(PasswordError::Params { .. })
        ));
    }
}
