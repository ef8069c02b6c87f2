//! Authentication: argon2id passwords, failed-login limits, HS256 bearer tokens and the
//! extractor that guards the agent-studio routes.

pub mod extract;
pub mod password;
pub mod throttle;
pub mod token;

pub use extract::AuthUser;
pub use password::{HashParams, HasherReading, PasswordError, PasswordHasher};
pub use throttle::{LoginThrottle, ThrottleConfig, ThrottleReason, Throttled};
pub use token::{Claims, TokenError, TokenKeys};
