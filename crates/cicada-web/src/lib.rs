//! cicada's live web UI and control API, as Locust users know it: open the page, type users,
//! spawn rate and host, press start, watch the numbers move, change the load while it runs,
//! stop, download the report — or drive the same from `curl` through the JSON API.
//!
//! - [`controller`]: the run states (waiting → running → stopping → stopped, then a new test)
//!   and the steering of the run in progress;
//! - [`driver`]: what the controller starts and steers — [`driver::LocalDriver`] runs the
//!   engine in this process on a [`cicada_session::Session`]; a distributed coordinator
//!   implements the same [`driver::Driver`] / [`driver::Steer`] traits;
//! - [`form`]: the start form, its defaults and how a request becomes launch options;
//! - [`api`] and [`openapi`]: the routes under `/api/` and their OpenAPI document;
//! - [`live`]: the per-second snapshot and the page's server-rendered markup (the report's own
//!   renderer, so numbers read the same on the page and in the report);
//! - [`so_far`]: the analysis of a running test (resources, scraped metrics, findings),
//!   redone every few seconds for the snapshots;
//! - [`auth`]: the token required off loopback;
//! - [`server`]: binding, the router, serving until Ctrl-C or `--autoquit`;
//! - the page itself (`GET /`): one self-contained HTML file, no CDN, works offline.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use cicada::launch::LaunchOptions;
//! use cicada_session::{Session, SessionOptions, log::Stderr};
//! use cicada_web::{Controller, LocalDriver, WebOptions, bind, serve};
//!
//! let base = LaunchOptions::new("load.toml");
//! let scenario = cicada::scenario::load_scenario_file(&base.scenario_path)?;
//! let session = Session::open(SessionOptions::default(), Box::new(Stderr), std::future::pending()).await?;
//! let driver = Arc::new(LocalDriver::new(Arc::new(session)));
//! let controller = Controller::new(driver, base, scenario, 2, Box::new(|_finished| 0));
//! let options = WebOptions { port: 0, ..WebOptions::default() };
//! let (listener, auth) = bind(&options).await?;
//! println!("open http://{}", listener.local_addr()?);
//! serve(listener, auth, controller, &options, cicada_session::signals::wait_for_signal()).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
pub mod controller;
pub mod driver;
pub mod form;
pub mod live;
pub mod openapi;
mod page;
pub mod resources;
pub mod server;
pub mod so_far;

pub use controller::{ControlError, Controller, RunState};
pub use driver::{Driver, LocalDriver, Steer};
pub use form::StartRequest;
pub use server::{Quit, WebError, WebOptions, app, bind, serve};
