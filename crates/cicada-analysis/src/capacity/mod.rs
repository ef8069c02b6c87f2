//! `cicada capacity`: find the highest load that meets the SLOs.
//!
//! [`slo`] parses the SLOs (`p95<200ms`, `error_rate<1%`); [`search`] is the search as a pure
//! state machine (double until an SLO breaks, then bisect to within 5 %) that the runner drives
//! step by step, and whose result carries the USL fit of throughput vs users.
//!
//! ```
//! use cicada_analysis::capacity::{CapacityConfig, CapacitySearch, Next, Slo, StepMeasurement};
//! let slos = vec![Slo::parse("p95<200ms").unwrap()];
//! let mut search = CapacitySearch::new(CapacityConfig::users(10.0, 1000.0, slos)).unwrap();
//! let mut next = search.next();
//! while let Next::Run(users) = next {
//!     // The runner holds `users` for a while, discards its warm-up, and measures:
//!     let p95_ms = 20.0 / (1.0 - (users / 300.0).min(0.999));
//!     next = search
//!         .record(StepMeasurement {
//!             load: users,
//!             warmup_discarded_s: 5.0,
//!             measured_s: 30.0,
//!             throughput: users * 10.0,
//!             p95_ms,
//!             error_rate: 0.0,
//!             generator_healthy: true,
//!         })
//!         .unwrap();
//! }
//! let Next::Done(result) = next else { unreachable!() };
//! assert!(result.headline.starts_with("max users at P95 < 200 ms: 26"));
//! ```

pub mod search;
pub mod slo;

pub use search::{CapacityConfig, CapacityError, CapacitySearch, Next, StepMeasurement};
pub use slo::{Slo, SloError, SloMetric, SloOp};
