//! Resource tracking: CPU % and RSS of a process by PID (the target), of the load generator
//! itself, and whole-machine CPU, read from `/proc` once a second.
//!
//! [`procfs`] holds the pure parsers, [`sampler`] the stateful samplers that turn tick counters
//! into percentages. The engine owns the clock: it calls [`ResourceSampler::tick`] once a second
//! and puts [`ResourceSampler::finish`]'s series into the report.

pub mod procfs;
pub mod sampler;

pub use sampler::{
    ProcessSampler, ResourceError, ResourceSampler, SystemCpuSampler, cpu_available_percent,
    cpu_core_percent, system_cpu_percent,
};
