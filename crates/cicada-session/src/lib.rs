//! One load-test session of cicada as a library: everything around the engine that a run
//! needs, driven the same way by `cicada run`, `cicada capacity` and the web server.
//!
//! - [`Session`]: the managed target (started when the session opens, stopped when it closes,
//!   also on failure and Ctrl-C) and the runs made against it; each [`Running`] run has its
//!   monitor (resources, scrapes, probes) and ends as a [`Finished`] report with the analysis
//!   attached;
//! - [`analysis`]: what the monitor collects and how it is attached to the report;
//! - [`capacity`]: the capacity search on one engine run;
//! - [`outcome`]: how a run ended, for an exit code;
//! - [`signals`]: Ctrl-C / SIGTERM stop a run gracefully, twice at once;
//! - [`log`]: where a session's progress lines go.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cicada::launch::LaunchOptions;
//! use cicada_session::{Session, SessionOptions, log::Stderr, prepare};
//!
//! let mut options = LaunchOptions::new("load.toml");
//! options.load.users = Some(10);
//! let config = prepare(&options, 2)?; // validated: nothing sent yet
//! let session = Session::open(SessionOptions::default(), Box::new(Stderr), std::future::pending()).await?;
//! let running = session.start(config).await?;
//! running.control().set_users(20); // steer it while it runs
//! let finished = running.finish().await?;
//! session.close().await;
//! println!("{} requests", finished.report.aggregated.requests);
//! # Ok(()) }
//! ```

pub mod analysis;
pub mod capacity;
pub mod log;
pub mod outcome;
mod session;
pub mod signals;
pub mod target;

pub use session::{Finished, Running, Session, SessionOptions, StartError, prepare};
