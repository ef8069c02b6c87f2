//! Errors in a scenario: where (file:line:column when known) and what was wrong.

use std::path::PathBuf;

use super::model::Location;

/// A scenario that cannot be loaded or run. Raised before any request is sent.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a field has the wrong shape.
    #[error("{location}: {message}")]
    Syntax { location: Location, message: String },
    /// The file parses but describes something that cannot run.
    #[error("{}{message}", location_prefix(.location))]
    Invalid {
        location: Option<Location>,
        message: String,
    },
}

impl ScenarioError {
    pub(crate) fn invalid(location: Option<&Location>, message: impl Into<String>) -> Self {
        Self::Invalid {
            location: location.cloned(),
            message: message.into(),
        }
    }

    /// Where the error is, if known.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { location, .. } => Some(location),
            Self::Invalid { location, .. } => location.as_ref(),
        }
    }
}

fn location_prefix(location: &Option<Location>) -> String {
    match location {
        Some(l) => format!("{l}: "),
        None => String::new(),
    }
}
