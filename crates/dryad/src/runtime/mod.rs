//! The agent runtime: a durable queue in the database, a pool of workers running the simulated
//! agent, and the autoscaler that sizes the pool.

pub mod agent;
pub mod autoscaler;
pub mod pool;
pub mod worker;

pub use agent::{AgentConfig, LatencyModel};
pub use autoscaler::{Action, AutoscaleConfig, Autoscaler, Decision};
pub use worker::WorkerContext;
