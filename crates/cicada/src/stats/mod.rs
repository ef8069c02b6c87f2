//! Statistics: sharded recording ([`shard`]), exact per-second merging ([`collector`]),
//! bounded failure grouping ([`failures`]), HDR helpers ([`histogram`]) and the report
//! ([`report`]).

pub mod collector;
pub mod failures;
pub mod histogram;
pub mod report;
pub mod shard;

pub use collector::{Collector, IntervalContext};
pub use shard::{Sample, Shard, Shards};
