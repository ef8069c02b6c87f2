//! argon2id password hashing on the blocking thread pool, with bounded concurrency.
//!
//! Each hash takes `m_cost` KiB of memory and `t_cost` passes over it: CPU-bound work of tens of
//! milliseconds that must not run on the async workers, and that must not take every core at
//! once (a login burst would starve the rest of the API), hence the semaphore.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl HashParams {
    /// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: HashParams = HashParams {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// The smallest legal parameters: for tests only, where hashing cost is noise.
    pub const TEST_ONLY: HashParams = HashParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };
}

/// Hashing failed (bad parameters, or a stored hash that is not a PHC string).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 rejected the parameters.
    #[error("invalid argon2 parameters {params:?}: {message}")]
    Params {
        /// What was asked.
        params: HashParams,
        /// argon2's reason.
        message: String,
    },
    /// Hashing failed.
    #[error("hashing failed: {0}")]
    Hash(String),
    /// The blocking task died.
    #[error("hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The semaphore was closed.
    #[error("password hasher is shut down")]
    Closed,
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: HashParams,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the user does not exist so that
    /// unknown users and wrong passwords take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher with `params`, running at most `concurrency` hashes at once.
    pub fn new(params: HashParams, concurrency: usize) -> Result<Self, PasswordError> {
        let p =
            Params::new(params.m_cost_kib, params.t_cost, params.p_cost, None).map_err(|e| {
                PasswordError::Params {
                    params,
                    message: e.to_string(),
                }
            })?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let dummy = uuid::Uuid::new_v4().to_string();
        let dummy_hash = hash_blocking(&argon, &dummy)?;
        Ok(PasswordHasher {
            argon,
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for `password`.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Closed)?;
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || hash_blocking(&argon, &password)).await?
    }

    /// Whether `password` matches `phc` (parameters are read from the PHC string). With
    /// `phc = None` a dummy hash is checked and `false` returned, in the same time.
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Closed)?;
        let argon = self.argon.clone();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon.verify_password(password.as_bytes(), &parsed).is_ok()
        })
        .await?;
        Ok(known && matched)
    }
}

fn hash_blocking(argon: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(HashParams::TEST_ONLY, 2).unwrap();
        let phc = h.hash("test123".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(h.verify("test123".into(), Some(phc.clone())).await.unwrap());
        assert!(!h.verify("test124".into(), Some(phc)).await.unwrap());
        assert!(!h.verify("test123".into(), None).await.unwrap());
        assert!(
            !h.verify("x".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn rejects_bad_params() {
        let bad = HashParams {
            m_cost_kib: 1,
            t_cost: 1,
            p_cost: 1,
        };
        assert!(matches!(
            PasswordHasher::new(bad, 1),
            Err(PasswordError::Params { .. })
        ));
    }
}
