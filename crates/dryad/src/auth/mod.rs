//! Authentication: argon2id passwords, HS256 bearer tokens and the extractor that guards the
//! agent-studio routes.

pub mod extract;
pub mod password;
pub mod token;

pub use extract::AuthUser;
pub use password::{HashParams, PasswordError, PasswordHasher};
pub use token::{Claims, TokenError, TokenKeys};
