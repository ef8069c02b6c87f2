//! Statistics: sharded recording ([`shard`]), exact per-second merging ([`collector`]),
//! bounded failure grouping ([`failures`]), HDR helpers ([`histogram`]), `Server-Timing` headers
//! ([`server_timing`]) and the report ([`report`]).

pub mod collector;
pub mod failures;
pub mod histogram;
pub mod report;
pub mod server_timing;
pub mod shard;

pub use collector::{Collector, IntervalContext};
pub use server_timing::ServerTimes;
pub use shard::{HttpStatus, Sample, Shard, Shards, TimingSums};
