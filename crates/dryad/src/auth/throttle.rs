//! Failed-login limits per username and per client address (token buckets), in bounded memory.
//!
//! Each key (a username, a client IP) has a bucket of `limit` tokens that refills at `limit`
//! per `window`. A failed attempt takes a token; an attempt finding fewer than one token is
//! refused before any hashing with the time until the next token (`Retry-After`). Successful
//! attempts take nothing, so any number of logins that succeed pass (the load test logs in 1000
//! users from one address), and failures on one username never refuse another username
//! unless the address they come from has used up its own budget.
//!
//! The check comes before the password is verified and the failure is recorded after, so
//! attempts already in flight when the bucket empties still run: the overshoot is at most the
//! number of concurrent attempts (itself bounded by the hashing permits and queue).
//!
//! Memory: a bucket that has refilled completely carries no information and is dropped; each
//! map holds at most `max_entries` buckets (when full, the idle ones are swept, then the least
//! recently touched bucket is evicted).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits; a `limit` of 0 turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failed attempts per username per `window`.
    pub per_username: u32,
    /// Failed attempts per client address per `window`.
    pub per_address: u32,
    /// The refill window.
    pub window: Duration,
    /// Buckets kept per map at most.
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    /// 10 failures per username and 100 per address every 5 minutes, 10,000 buckets each.
    fn default() -> Self {
        ThrottleConfig {
            per_username: 10,
            per_address: 100,
            window: Duration::from_secs(300),
            max_entries: 10_000,
        }
    }
}

/// Which limit refused an attempt (the `reason` label of `dryad_login_throttled_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// Too many failures for this username.
    Username,
    /// Too many failures from this client address.
    Address,
}

impl ThrottleReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ThrottleReason::Username => "username",
            ThrottleReason::Address => "address",
        }
    }
}

/// An attempt refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttled {
    /// The limit that was reached.
    pub reason: ThrottleReason,
    /// Until the bucket holds a token again.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key, at most `max_entries` of them.
#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    capacity: f64,
    /// Tokens per second.
    rate: f64,
    max_entries: usize,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new(limit: u32, window: Duration, max_entries: usize) -> Self {
        let capacity = f64::from(limit);
        Buckets {
            map: HashMap::new(),
            capacity,
            rate: capacity / window.as_secs_f64().max(f64::MIN_POSITIVE),
            max_entries: max_entries.max(1),
        }
    }

    fn enabled(&self) -> bool {
        self.capacity > 0.0
    }

    fn tokens(&self, b: &Bucket, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.rate;
        (b.tokens + refill).min(self.capacity)
    }

    /// `None` if an attempt may go ahead, else how long until it may.
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        if !self.enabled() {
            return None;
        }
        let tokens = self
            .map
            .get(key)
            .map_or(self.capacity, |b| self.tokens(b, now));
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.rate))
    }

    fn take(&mut self, key: &K, now: Instant) {
        if !self.enabled() {
            return;
        }
        let tokens = match self.map.get(key) {
            Some(b) => self.tokens(b, now),
            None => {
                self.make_room(now);
                self.capacity
            }
        };
        self.map.insert(
            key.clone(),
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }

    fn make_room(&mut self, now: Instant) {
        if self.map.len() < self.max_entries {
            return;
        }
        let (capacity, rate) = (self.capacity, self.rate);
        self.map.retain(|_, b| {
            let refill = now.saturating_duration_since(b.at).as_secs_f64() * rate;
            b.tokens + refill < capacity
        });
        while self.map.len() >= self.max_entries {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, b)| b.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.map.remove(&oldest);
        }
    }
}

/// The failed-login limits of one service instance.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    usernames: Mutex<Buckets<String>>,
    addresses: Mutex<Buckets<IpAddr>>,
}

impl LoginThrottle {
    /// Empty buckets with these limits.
    pub fn new(config: ThrottleConfig) -> Self {
        LoginThrottle {
            config,
            usernames: Mutex::new(Buckets::new(
                config.per_username,
                config.window,
                config.max_entries,
            )),
            addresses: Mutex::new(Buckets::new(
                config.per_address,
                config.window,
                config.max_entries,
            )),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// Whether an attempt for `username` from `address` may go ahead at `now`. The address is
    /// checked first: a client over its budget learns nothing about the usernames.
    pub fn check(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Throttled> {
        if let Some(ip) = address {
            let wait = lock(&self.addresses).wait(&ip, now);
            if let Some(retry_after) = wait {
                return Err(Throttled {
                    reason: ThrottleReason::Address,
                    retry_after,
                });
            }
        }
        let wait = lock(&self.usernames).wait(&username.to_owned(), now);
        match wait {
            Some(retry_after) => Err(Throttled {
                reason: ThrottleReason::Username,
                retry_after,
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against `username` and `address`.
    pub fn record_failure(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        if let Some(ip) = address {
            lock(&self.addresses).take(&ip, now);
        }
        lock(&self.usernames).take(&username.to_owned(), now);
    }

    /// Buckets held (usernames, addresses).
    pub fn entries(&self) -> (usize, usize) {
        (
            lock(&self.usernames).map.len(),
            lock(&self.addresses).map.len(),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    fn throttle(per_username: u32, per_address: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            per_username,
            per_address,
            window: Duration::from_secs(60),
            max_entries: 100,
        })
    }

    #[test]
    fn failures_on_a_username_refuse_it_then_it_refills() {
        let t = throttle(3, 0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.check("alice", A, t0).is_ok());
            t.record_failure("alice", A, t0);
        }
        let refused = t.check("alice", B, t0).unwrap_err();
        assert_eq!(refused.reason, ThrottleReason::Username);
        // 3 per 60 s: one token every 20 s.
        assert!((refused.retry_after.as_secs_f64() - 20.0).abs() < 1e-6);
        // Another username is not affected, from either address.
        assert!(t.check("bob", A, t0).is_ok());
        assert!(t.check("alice", A, t0 + Duration::from_secs(20)).is_ok());
        assert!(t.check("alice", A, t0 + Duration::from_secs(19)).is_err());
    }

    #[test]
    fn an_address_over_its_budget_is_refused_for_every_username() {
        let t = throttle(100, 2);
        let t0 = Instant::now();
        t.record_failure("u1", A, t0);
        t.record_failure("u2", A, t0);
        let refused = t.check("someone-else", A, t0).unwrap_err();
        assert_eq!(refused.reason, ThrottleReason::Address);
        assert!(t.check("someone-else", B, t0).is_ok());
        assert!(t.check("u1", None, t0).is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let t = throttle(0, 0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            t.record_failure("alice", A, t0);
        }
        assert!(t.check("alice", A, t0).is_ok());
        assert_eq!(t.entries(), (0, 0));
    }

    #[test]
    fn memory_is_bounded_and_idle_buckets_go_first() {
        let t = throttle(5, 0);
        let t0 = Instant::now();
        // 100 buckets fill the map; after a window they have all refilled (idle).
        for i in 0..100 {
            t.record_failure(&format!("old{i}"), None, t0);
        }
        assert_eq!(t.entries().0, 100);
        let later = t0 + Duration::from_secs(61);
        t.record_failure("new", None, later);
        assert_eq!(
            t.entries().0,
            1,
            "idle buckets are swept when the map is full"
        );
        // When every bucket is active, the least recently touched one is evicted.
        for i in 0..200 {
            t.record_failure(&format!("busy{i}"), None, later + Duration::from_millis(i));
        }
        assert_eq!(t.entries().0, 100);
        assert!(t.check("busy199", None, later).is_ok());
    }
}
