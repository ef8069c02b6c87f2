//! Run reports for cicada: the data model of what a load test measured ([`model`]) and the
//! renderers that turn it into the formats people read ([`outputs`]).

pub mod analysis_model;
pub mod model;
pub mod outputs;

pub use model::RunReport;
pub use outputs::{OutputOptions, write_outputs};
