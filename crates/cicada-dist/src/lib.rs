//! cicada's distributed runs, Locust's model: one coordinator (`cicada run --master`) holds the
//! plan, the live view, the thresholds and every report, and runs no users; each worker
//! (`cicada run --worker`) runs its exact part of the load and sends its data every second.
//!
//! - [`protocol`]: the wire — TCP, a magic preamble, length-prefixed JSON messages, the
//!   handshake (hello → accept or refuse, with the reason), heartbeats both ways;
//! - [`identity`]: what must match — version, scenario hash, token (constant-time);
//! - [`spec`]: the whole run's options as each worker receives them, and its config built
//!   from them;
//! - [`share`]: each worker's part (a [`cicada::segment::Stripe`]);
//! - [`coordinator`]: admitting workers, starting a run at a common instant, merging their
//!   data exactly (`cicada_report::merge`), marking the lost ones; a [`cicada_web::Driver`];
//! - [`worker`]: one worker's life, and its own report when the coordinator is lost.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use cicada::launch::LaunchOptions;
//! use cicada_dist::coordinator::{Coordinator, CoordinatorOptions};
//! use cicada_session::log::Stderr;
//!
//! let bytes = std::fs::read("load.toml")?;
//! let opts = CoordinatorOptions {
//!     bind_port: 0,
//!     expect_workers: 3,
//!     scenario_hash: cicada_dist::identity::scenario_hash(&bytes),
//!     ..CoordinatorOptions::default()
//! };
//! let coordinator = Coordinator::bind(opts, Arc::new(Stderr)).await?;
//! // … start three `cicada run load.toml --worker --master-port <port>` …
//! coordinator.wait_for_workers(None).await?;
//! let mut launch = LaunchOptions::new("load.toml");
//! launch.load.users = Some(30);
//! let run = coordinator.start(cicada_session::prepare(&launch, 2)?).await?;
//! let finished = run.finish().await; // every worker done or lost; merged exactly
//! coordinator.quit();
//! println!("{} requests", finished.report.aggregated.requests);
//! # Ok(()) }
//! ```

pub mod coordinator;
mod driver;
pub mod error;
pub mod identity;
pub mod protocol;
pub mod share;
pub mod spec;
pub mod status;
pub mod worker;

pub use coordinator::{Coordinator, CoordinatorOptions, DistRun};
pub use error::DistError;
pub use worker::{WorkerEnd, WorkerOptions, run_worker};
