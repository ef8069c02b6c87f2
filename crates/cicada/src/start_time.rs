//! `--start-at`: the wall-clock instant a run's traffic starts ([`crate::runner::RunConfig::start_at`]),
//! so that the workers of a split run ([`crate::segment`]) start together.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! let t = cicada::start_time::parse_start_time("2026-12-04T03:00:00.250Z").unwrap();
//! assert_eq!(t, SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_353_200_250));
//! let e = cicada::start_time::parse_start_time("at three").unwrap_err();
//! assert!(e.to_string().contains("RFC 3339"));
//! ```

use std::time::SystemTime;

/// A start time that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "start time {text:?}: {reason} (expected an RFC 3339 date and time with its offset, e.g. 2026-12-04T03:00:00Z)"
)]
pub struct StartTimeError {
    pub text: String,
    pub reason: String,
}

/// Read an RFC 3339 instant (`2026-12-04T03:00:00Z`, `2026-12-04T04:00:00+01:00`).
pub fn parse_start_time(text: &str) -> Result<SystemTime, StartTimeError> {
    let at = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|e| StartTimeError {
        text: text.to_string(),
        reason: e.to_string(),
    })?;
    Ok(at.with_timezone(&chrono::Utc).into())
}
