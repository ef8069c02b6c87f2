//! Command-line arguments as typed but unvalidated values; [`crate::config`] checks them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// DRYAD agent-studio API.
#[derive(Debug, Parser)]
#[command(name = "dryad", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service and its worker pool.
    Serve(Box<ServeArgs>),
    /// Bulk-load agents, executions and accounts (idempotent).
    Seed(SeedArgs),
}

/// Shared database flags.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// sqlite://FILE (created and migrated on first start) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://dryad.db")]
    pub database_url: String,
    /// Most connections in the API's pool (HTTP request handlers).
    #[arg(long, default_value_t = 8)]
    pub pool_size: u32,
}

/// argon2id cost flags.
#[derive(Debug, Clone, Args)]
pub struct HashArgs {
    /// argon2id memory cost in KiB (OWASP minimum: 19456).
    #[arg(long, default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    #[arg(long, default_value_t = 2)]
    pub argon2_iterations: u32,
    /// argon2id lanes.
    #[arg(long, default_value_t = 1)]
    pub argon2_parallelism: u32,
}

/// Latency distribution of the simulated agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyKind {
    /// Log-normal around the median.
    Lognormal,
    /// Always the median.
    Constant,
}

/// `dryad serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub hash: HashArgs,
    /// Most connections in the workers' pool (claiming, lease recovery, finishing executions),
    /// separate from --pool-size so busy workers cannot starve the API. Default: 4 on
    /// PostgreSQL, 2 on SQLite (where every write goes through one writer connection anyway).
    #[arg(long)]
    pub worker_pool_size: Option<u32>,
    /// Password hashes running at once (default: cores - 1, at least 1).
    #[arg(long)]
    pub hash_concurrency: Option<usize>,
    /// Logins that may wait for a hashing permit when all are taken; one more is refused at
    /// once with 503 and Retry-After (0: none may wait). The default holds the backlog of 1000
    /// logins arriving at 50/s on a busy 2-core machine (487 measured at the peak).
    #[arg(long, default_value_t = 1024)]
    pub login_queue_max: usize,
    /// Failed logins allowed per username per --login-failure-window-secs (a token bucket that
    /// refills at this many per window); beyond: 429 with Retry-After. 0: no limit.
    #[arg(long, default_value_t = 10)]
    pub login_failures_per_username: u32,
    /// Failed logins allowed per client address (the TCP peer's IP) per window; beyond: 429
    /// with Retry-After, whatever the username. Successful logins are never counted. 0: no limit.
    #[arg(long, default_value_t = 100)]
    pub login_failures_per_address: u32,
    /// The window of the failed-login limits, seconds.
    #[arg(long, default_value_t = 300.0)]
    pub login_failure_window_secs: f64,
    /// Most usernames and most addresses whose failures are remembered (each); buckets that
    /// have refilled are dropped first, then the least recently used.
    #[arg(long, default_value_t = 10_000)]
    pub login_throttle_max_entries: usize,
    /// How long an Idempotency-Key of POST /execute is remembered, seconds (then purged).
    #[arg(long, default_value_t = 86_400.0)]
    pub idempotency_window_secs: f64,
    /// HS256 signing key; unset: a random per-process key (tokens die with the process).
    #[arg(long, env = "DRYAD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Lifetime of issued tokens, seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Fewest workers.
    #[arg(long, default_value_t = 2)]
    pub workers_min: usize,
    /// Most workers.
    #[arg(long, default_value_t = 64)]
    pub workers_max: usize,
    /// Queue items (pending + running) per worker the autoscaler aims at.
    #[arg(long, default_value_t = 2.0)]
    pub target_queue_per_worker: f64,
    /// Least seconds between scale-ups.
    #[arg(long, default_value_t = 3.0)]
    pub scale_up_cooldown_secs: f64,
    /// Scale-down stabilisation window, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub scale_down_cooldown_secs: f64,
    /// Autoscaler period, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub autoscale_interval_ms: u64,
    /// Worker lease, seconds: a RUNNING execution whose worker vanished returns to the queue
    /// after this long.
    #[arg(long, default_value_t = 60.0)]
    pub lease_secs: f64,
    /// Idle workers poll the queue at least this often, milliseconds.
    #[arg(long, default_value_t = 500)]
    pub poll_interval_ms: u64,
    /// Simulated agent latency distribution.
    #[arg(long, value_enum, default_value_t = LatencyKind::Lognormal)]
    pub agent_latency: LatencyKind,
    /// Median agent latency, milliseconds.
    #[arg(long, default_value_t = 250.0)]
    pub agent_latency_median_ms: f64,
    /// Log-normal sigma (spread of ln latency).
    #[arg(long, default_value_t = 0.5)]
    pub agent_latency_sigma: f64,
    /// Upper clamp on one agent run, milliseconds (must be below the lease).
    #[arg(long, default_value_t = 10_000.0)]
    pub agent_latency_max_ms: f64,
    /// Fraction of agent runs that fail, 0..=1.
    #[arg(long, default_value_t = 0.02)]
    pub agent_failure_ratio: f64,
    /// Plant a known fault for load-test calibration (repeatable; off by default): latency,
    /// cpu, leak, cache, missing-index, write-lock, crash. `--help` explains each.
    #[arg(long = "fault", value_name = "SPEC", long_help = crate::fault::HELP)]
    pub faults: Vec<crate::fault::Fault>,
    /// Close a connection whose request head (request line and headers) has not fully arrived
    /// this many seconds after the connection opened, or after its first byte following an
    /// idle spell (slowloris).
    #[arg(long, default_value_t = 10.0)]
    pub header_read_timeout_secs: f64,
    /// Answer 408 and close the connection when a request body has not fully arrived this many
    /// seconds after its head (a bound on the whole body, so a minimum average rate).
    #[arg(long, default_value_t = 15.0)]
    pub body_read_timeout_secs: f64,
    /// Close a keep-alive connection idle this many seconds between requests.
    #[arg(long, default_value_t = 75.0)]
    pub keep_alive_timeout_secs: f64,
    /// On SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish, and close the
    /// connections still open after this many seconds, so that the process exits.
    #[arg(long, visible_alias = "shutdown-timeout", default_value_t = 30.0)]
    pub shutdown_timeout_secs: f64,
}

/// `dryad seed`.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub hash: HashArgs,
    /// Agents to create.
    #[arg(long, default_value_t = 1000)]
    pub agents: u64,
    /// Executions per agent.
    #[arg(long, default_value_t = 1000)]
    pub executions_per_agent: u64,
    /// Extra account NAME:PASSWORD (repeatable); `loadtest:test123` is always created.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Write the agent ids to this CSV (header `agent_id`).
    #[arg(long, value_name = "FILE.csv")]
    pub export_agents: Option<PathBuf>,
    /// Seed of the generator: the same seed gives the same agent and execution ids.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// History spans this many days before now.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
}
