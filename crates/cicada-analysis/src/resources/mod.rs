//! Resource tracking: CPU % and RSS of a process by PID or of its whole process tree (the
//! target), of the load generator itself, and whole-machine CPU, read from `/proc` once a
//! second, and the CPU limit (affinity, cgroup quota) each process runs under.
//!
//! [`procfs`] holds the pure parsers, [`sampler`] the stateful samplers that turn tick counters
//! into percentages, [`tree`] the process-tree sampler, [`limit`] the CPU limit. The engine owns the clock: it calls [`ResourceSampler::tick`] once a second
//! and puts [`ResourceSampler::finish`]'s series into the report.

#[cfg(test)]
mod fake_proc;
pub mod limit;
pub mod procfs;
pub mod sampler;
pub mod tree;

pub use limit::cpu_limit;
pub use sampler::{
    ProcessSampler, ResourceError, ResourceSampler, SystemCpuSampler, TargetProcess,
    cpu_available_percent, cpu_core_percent, system_cpu_percent,
};
pub use tree::TreeSampler;
