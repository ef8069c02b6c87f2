//! Run reports for cicada: the data model of what a load test measured ([`model`]) and the
//! renderers that turn it into the formats people read.

pub mod model;

pub use model::RunReport;
