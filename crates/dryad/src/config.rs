//! Validated configuration: built once from [`crate::cli`] values, trusted downstream.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{HashParams, ThrottleConfig};
use crate::cli::{DbArgs, HashArgs, LatencyKind, SeedArgs, ServeArgs};
use crate::db::{Backend, PoolSizes};
use crate::fault::Fault;
use crate::runtime::{AgentConfig, AutoscaleConfig, LatencyModel};
use crate::server::Timeouts;

/// A flag value that cannot work, with what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--{flag}: {message}")]
pub struct ConfigError {
    /// The flag, without dashes.
    pub flag: &'static str,
    /// What is wrong and what is accepted.
    pub message: String,
}

fn bad(flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        message: message.into(),
    }
}

fn secs(flag: &'static str, v: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| bad(flag, format!("{v} is not a duration in seconds >= 0")))
}

/// Database settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DbConfig {
    /// Connection URL.
    pub url: String,
    /// The backend the URL names.
    pub backend: Backend,
    /// The API pool's maximum.
    pub pool_size: u32,
}

impl TryFrom<&DbArgs> for DbConfig {
    type Error = ConfigError;

    fn try_from(a: &DbArgs) -> Result<Self, ConfigError> {
        let backend =
            Backend::from_url(&a.database_url).map_err(|e| bad("database-url", e.to_string()))?;
        if a.pool_size == 0 {
            return Err(bad("pool-size", "must be at least 1"));
        }
        Ok(DbConfig {
            url: a.database_url.clone(),
            backend,
            pool_size: a.pool_size,
        })
    }
}

impl From<&HashArgs> for HashParams {
    fn from(a: &HashArgs) -> Self {
        HashParams {
            m_cost_kib: a.argon2_memory_kib,
            t_cost: a.argon2_iterations,
            p_cost: a.argon2_parallelism,
        }
    }
}

/// `dryad serve`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Database.
    pub db: DbConfig,
    /// The workers' pool maximum (`--worker-pool-size`, else the backend's default).
    pub worker_pool_size: u32,
    /// argon2id cost of the dummy hash (real hashes carry their own).
    pub hash: HashParams,
    /// Concurrent hashes.
    pub hash_concurrency: usize,
    /// Logins that may wait for a hashing permit.
    pub login_queue_max: usize,
    /// Failed-login limits.
    pub throttle: ThrottleConfig,
    /// How long idempotency keys are remembered.
    pub idempotency_window: Duration,
    /// HS256 key (None: random per process).
    pub jwt_secret: Option<String>,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Autoscaler.
    pub autoscale: AutoscaleConfig,
    /// Simulated agent.
    pub agent: AgentConfig,
    /// Worker lease.
    pub lease: Duration,
    /// Idle poll period.
    pub poll_interval: Duration,
    /// Planted faults (`--fault`), checked to name real routes and not to conflict.
    pub faults: Vec<Fault>,
    /// The HTTP server's timeouts.
    pub http: Timeouts,
}

fn positive_secs(flag: &'static str, v: f64) -> Result<Duration, ConfigError> {
    let d = secs(flag, v)?;
    if d.is_zero() {
        return Err(bad(flag, "must be above 0"));
    }
    Ok(d)
}

impl TryFrom<&ServeArgs> for ServeConfig {
    type Error = ConfigError;

    fn try_from(a: &ServeArgs) -> Result<Self, ConfigError> {
        let db = DbConfig::try_from(&a.db)?;
        let worker_pool_size = a
            .worker_pool_size
            .unwrap_or(db.backend.default_worker_pool_size());
        if worker_pool_size == 0 {
            return Err(bad(
                "worker-pool-size",
                "must be at least 1 (the workers need a connection to claim executions)",
            ));
        }
        if a.workers_min == 0 {
            return Err(bad("workers-min", "must be at least 1"));
        }
        if a.workers_max < a.workers_min {
            return Err(bad(
                "workers-max",
                format!("{} is below --workers-min {}", a.workers_max, a.workers_min),
            ));
        }
        if !(a.target_queue_per_worker.is_finite() && a.target_queue_per_worker > 0.0) {
            return Err(bad("target-queue-per-worker", "must be a number above 0"));
        }
        if a.autoscale_interval_ms == 0 {
            return Err(bad("autoscale-interval-ms", "must be at least 1"));
        }
        if a.poll_interval_ms == 0 {
            return Err(bad("poll-interval-ms", "must be at least 1"));
        }
        if a.token_ttl_secs == 0 {
            return Err(bad("token-ttl-secs", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&a.agent_failure_ratio) {
            return Err(bad(
                "agent-failure-ratio",
                format!("{} is not within 0..=1", a.agent_failure_ratio),
            ));
        }
        if !(a.agent_latency_sigma.is_finite() && a.agent_latency_sigma >= 0.0) {
            return Err(bad("agent-latency-sigma", "must be a number >= 0"));
        }
        let median = secs(
            "agent-latency-median-ms",
            a.agent_latency_median_ms / 1000.0,
        )?;
        let max_latency = secs("agent-latency-max-ms", a.agent_latency_max_ms / 1000.0)?;
        let lease = secs("lease-secs", a.lease_secs)?;
        if lease <= max_latency {
            return Err(bad(
                "lease-secs",
                format!(
                    "the lease ({lease:?}) must exceed --agent-latency-max-ms ({max_latency:?}), \
                     or running executions would be requeued while still running"
                ),
            ));
        }
        let latency = match a.agent_latency {
            LatencyKind::Lognormal => LatencyModel::LogNormal {
                median,
                sigma: a.agent_latency_sigma,
            },
            LatencyKind::Constant => LatencyModel::Constant(median),
        };
        crate::fault::Faults::new(a.faults.clone()).map_err(|e| bad("fault", e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let hash_concurrency = a.hash_concurrency.unwrap_or(cores.saturating_sub(1).max(1));
        if hash_concurrency == 0 {
            return Err(bad("hash-concurrency", "must be at least 1"));
        }
        if a.login_throttle_max_entries == 0 {
            return Err(bad("login-throttle-max-entries", "must be at least 1"));
        }
        Ok(ServeConfig {
            bind: a.bind,
            db,
            worker_pool_size,
            hash: HashParams::from(&a.hash),
            hash_concurrency,
            login_queue_max: a.login_queue_max,
            throttle: ThrottleConfig {
                per_username: a.login_failures_per_username,
                per_address: a.login_failures_per_address,
                window: positive_secs("login-failure-window-secs", a.login_failure_window_secs)?,
                max_entries: a.login_throttle_max_entries,
            },
            idempotency_window: positive_secs(
                "idempotency-window-secs",
                a.idempotency_window_secs,
            )?,
            jwt_secret: a.jwt_secret.clone().filter(|s| !s.is_empty()),
            token_ttl: Duration::from_secs(a.token_ttl_secs),
            autoscale: AutoscaleConfig {
                min: a.workers_min,
                max: a.workers_max,
                target_per_worker: a.target_queue_per_worker,
                up_cooldown: secs("scale-up-cooldown-secs", a.scale_up_cooldown_secs)?,
                down_cooldown: secs("scale-down-cooldown-secs", a.scale_down_cooldown_secs)?,
                interval: Duration::from_millis(a.autoscale_interval_ms),
            },
            agent: AgentConfig {
                latency,
                max_latency,
                failure_ratio: a.agent_failure_ratio,
            },
            lease,
            poll_interval: Duration::from_millis(a.poll_interval_ms),
            faults: a.faults.clone(),
            http: Timeouts {
                head: positive_secs("header-read-timeout-secs", a.header_read_timeout_secs)?,
                body: positive_secs("body-read-timeout-secs", a.body_read_timeout_secs)?,
                keep_alive: positive_secs("keep-alive-timeout-secs", a.keep_alive_timeout_secs)?,
                shutdown: secs("shutdown-timeout-secs", a.shutdown_timeout_secs)?,
            },
        })
    }
}

impl ServeConfig {
    /// Both pools' maximum sizes.
    pub fn pool_sizes(&self) -> PoolSizes {
        PoolSizes {
            api: self.db.pool_size,
            worker: self.worker_pool_size,
        }
    }
}

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub username: String,
    /// Password in clear.
    pub password: String,
}

/// The load-test account every seed creates.
pub fn loadtest_account() -> Account {
    Account {
        username: "loadtest".to_owned(),
        password: "test123".to_owned(),
    }
}

/// `dryad seed`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedConfig {
    /// Database.
    pub db: DbConfig,
    /// argon2id cost of the accounts' hashes.
    pub hash: HashParams,
    /// Agents.
    pub agents: u64,
    /// Executions per agent.
    pub executions_per_agent: u64,
    /// Accounts (loadtest first).
    pub accounts: Vec<Account>,
    /// CSV of agent ids.
    pub export_agents: Option<PathBuf>,
    /// Generator seed.
    pub seed: u64,
    /// History span.
    pub span: Duration,
}

impl TryFrom<&SeedArgs> for SeedConfig {
    type Error = ConfigError;

    fn try_from(a: &SeedArgs) -> Result<Self, ConfigError> {
        let db = DbConfig::try_from(&a.db)?;
        let mut accounts = vec![loadtest_account()];
        for u in &a.users {
            let (name, password) = u
                .split_once(':')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| bad("user", format!("{u:?} is not NAME:PASSWORD")))?;
            accounts.retain(|acc| acc.username != name);
            accounts.push(Account {
                username: name.to_owned(),
                password: password.to_owned(),
            });
        }
        if a.days == 0 {
            return Err(bad("days", "must be at least 1"));
        }
        Ok(SeedConfig {
            db,
            hash: HashParams::from(&a.hash),
            agents: a.agents,
            executions_per_agent: a.executions_per_agent,
            accounts,
            export_agents: a.export_agents.clone(),
            seed: a.seed,
            span: Duration::from_secs(u64::from(a.days) * 86_400),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> Result<ServeConfig, ConfigError> {
        let mut argv = vec!["dryad", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(s) => ServeConfig::try_from(&*s),
            Command::Seed(_) => unreachable!(),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let c = serve(&["--database-url", "sqlite://x.db"]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.autoscale.min, 2);
        assert_eq!(c.agent.failure_ratio, 0.02);
        assert_eq!((c.db.pool_size, c.worker_pool_size), (8, 2));
        assert_eq!(c.http, crate::server::Timeouts::default());
        assert_eq!(c.http.shutdown, Duration::from_secs(30));
        assert_eq!(c.throttle, crate::auth::ThrottleConfig::default());
        assert_eq!(c.login_queue_max, 1024);
        assert_eq!(
            c.idempotency_window,
            crate::state::DEFAULT_IDEMPOTENCY_WINDOW
        );
        let alias = serve(&[
            "--database-url",
            "sqlite://x.db",
            "--shutdown-timeout",
            "2.5",
        ]);
        assert_eq!(alias.unwrap().http.shutdown, Duration::from_millis(2500));
        let pg = serve(&["--database-url", "postgres://u@h/db"]).unwrap();
        assert_eq!(pg.pool_sizes(), PoolSizes { api: 8, worker: 4 });
    }

    #[test]
    fn worker_pool_size_is_its_own_flag() {
        let c = serve(&[
            "--database-url",
            "sqlite://x.db",
            "--pool-size",
            "1",
            "--worker-pool-size",
            "16",
        ])
        .unwrap();
        assert_eq!(c.pool_sizes(), PoolSizes { api: 1, worker: 16 });
        let e = serve(&["--database-url", "sqlite://x.db", "--worker-pool-size", "0"]).unwrap_err();
        assert_eq!(e.flag, "worker-pool-size");
        assert!(
            e.to_string()
                .starts_with("--worker-pool-size: must be at least 1"),
            "{e}"
        );
        // Not a number, negative or beyond u32: clap refuses before validation.
        for v in ["-1", "four", "4294967296", ""] {
            let flag = format!("--worker-pool-size={v}");
            let err = Cli::try_parse_from(["dryad", "serve", &flag])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--worker-pool-size"), "{v:?}: {err}");
        }
    }

    #[test]
    fn rejects_what_cannot_work() {
        let u = ["--database-url", "sqlite://x.db"];
        for (extra, flag) in [
            (&["--workers-min", "0"][..], "workers-min"),
            (
                &["--workers-min", "5", "--workers-max", "4"][..],
                "workers-max",
            ),
            (&["--agent-failure-ratio", "1.5"][..], "agent-failure-ratio"),
            (
                &["--lease-secs", "1", "--agent-latency-max-ms", "2000"][..],
                "lease-secs",
            ),
            (&["--pool-size", "0"][..], "pool-size"),
            (
                &["--target-queue-per-worker", "0"][..],
                "target-queue-per-worker",
            ),
            (
                &["--scale-up-cooldown-secs=-1"][..],
                "scale-up-cooldown-secs",
            ),
            (
                &["--header-read-timeout-secs", "0"][..],
                "header-read-timeout-secs",
            ),
            (
                &["--body-read-timeout-secs", "NaN"][..],
                "body-read-timeout-secs",
            ),
            (
                &["--keep-alive-timeout-secs=-2"][..],
                "keep-alive-timeout-secs",
            ),
            (
                &["--shutdown-timeout-secs", "inf"][..],
                "shutdown-timeout-secs",
            ),
            (
                &["--login-failure-window-secs", "0"][..],
                "login-failure-window-secs",
            ),
            (
                &["--login-throttle-max-entries", "0"][..],
                "login-throttle-max-entries",
            ),
            (
                &["--idempotency-window-secs=-1"][..],
                "idempotency-window-secs",
            ),
        ] {
            let mut args = u.to_vec();
            args.extend_from_slice(extra);
            assert_eq!(serve(&args).unwrap_err().flag, flag, "{extra:?}");
        }
        assert_eq!(
            serve(&["--database-url", "mysql://x"]).unwrap_err().flag,
            "database-url"
        );
    }
}
