//! JWT (HS256) bearer tokens: issue at login, verify on every agent-studio request.
//!
//! Verification accepts HS256 only, so `alg=none` and any other algorithm are refused before the
//! signature is looked at; `exp` is required and checked with no leeway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims DRYAD puts in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Username.
    pub name: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
}

/// Why a token was refused; each maps to a distinct `detail`, all to 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token's `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// Signed with another key (or tampered with).
    #[error("token signature is invalid")]
    BadSignature,
    /// `alg` is not HS256 (including `none`).
    #[error("token algorithm is not accepted (HS256 only)")]
    BadAlgorithm,
    /// Not three base64url parts of JSON, or required claims missing.
    #[error("token is malformed")]
    Malformed,
    /// Signing failed (never expected with HMAC).
    #[error("token could not be signed: {0}")]
    Sign(String),
}

/// Signs and checks tokens with one HMAC key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenKeys {
    /// Keys from a shared secret; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for this user, valid for the configured lifetime.
    pub fn issue(&self, user_id: &str, username: &str) -> Result<String, TokenError> {
        let iat = now_secs();
        self.sign(&Claims {
            sub: user_id.to_owned(),
            name: username.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs(),
        })
    }

    /// Signs arbitrary claims (tests use it for expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::BadAlgorithm
                }
                _ => TokenError::Malformed,
            })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn round_trip() {
        let k = TokenKeys::new(b"secret", Duration::from_secs(60));
        let t = k.issue("u1", "alice").unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.name.as_str()), ("u1", "alice"));
    }

    #[test]
    fn every_failure_is_classified() {
        let k = TokenKeys::new(b"secret", Duration::from_secs(60));
        let other = TokenKeys::new(b"other", Duration::from_secs(60));
        let forged = other.issue("u1", "alice").unwrap();
        assert_eq!(k.verify(&forged), Err(TokenError::BadSignature));

        let now = now_secs();
        let expired = k
            .sign(&Claims {
                sub: "u1".into(),
                name: "a".into(),
                iat: now - 120,
                exp: now - 60,
            })
            .unwrap();
        assert_eq!(k.verify(&expired), Err(TokenError::Expired));

        let payload = b64(&format!(
            r#"{{"sub":"u1","name":"a","iat":{now},"exp":{}}}"#,
            now + 60
        ));
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(matches!(
            k.verify(&none),
            Err(TokenError::BadAlgorithm | TokenError::Malformed)
        ));
        let hs512 = format!("{}.{}.abc", b64(r#"{"alg":"HS512","typ":"JWT"}"#), payload);
        assert_eq!(k.verify(&hs512), Err(TokenError::BadAlgorithm));

        for bad in ["", "abc", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert_eq!(k.verify(bad), Err(TokenError::Malformed), "{bad:?}");
        }
        let no_exp = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"sub":"u"}"#)
        );
        assert!(k.verify(&no_exp).is_err());
    }
}
