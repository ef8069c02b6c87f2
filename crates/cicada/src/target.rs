//! The target's base URL, parsed once: scheme, host, port and an optional path prefix.

use http::uri::{Scheme, Uri};

/// Why a host URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("invalid host URL {0:?} (expected e.g. http://127.0.0.1:8000)")]
    Invalid(String),
    #[error("host URL {0:?} must start with http:// or https://")]
    Scheme(String),
    #[error("no target host: give -H/--host or `host` under [defaults]")]
    Missing,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given, without a trailing slash.
    pub url: String,
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Value of the `Host` header (`host[:port]`, port omitted when it is the scheme's default).
    pub authority: String,
    /// Path prefix prepended to every request path (no trailing slash; may be empty).
    pub base_path: String,
}

impl Target {
    /// Parse `http://host[:port][/prefix]` or `https://...`.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let trimmed = url.trim().trim_end_matches('/');
        let uri: Uri = trimmed
            .parse()
            .map_err(|_| TargetError::Invalid(url.to_string()))?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            _ => return Err(TargetError::Scheme(url.to_string())),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| TargetError::Invalid(url.to_string()))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(TargetError::Invalid(url.to_string()));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let base_path = uri.path().trim_end_matches('/').to_string();
        if uri.query().is_some() {
            return Err(TargetError::Invalid(url.to_string()));
        }
        Ok(Self {
            url: trimmed.to_string(),
            tls,
            authority: authority.as_str().to_string(),
            host,
            port,
            base_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        let t = Target::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("127.0.0.1", 8000, false));
        assert_eq!(t.authority, "127.0.0.1:8000");
        assert_eq!(t.base_path, "");
        let t = Target::parse("https://example.test/api").unwrap();
        assert_eq!((t.port, t.tls, t.base_path.as_str()), (443, true, "/api"));
        let t = Target::parse("http://[::1]:9000").unwrap();
        assert_eq!(t.host, "::1");
    }

    #[test]
    fn rejects_bad_hosts() {
        assert!(matches!(
            Target::parse("ftp://x"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            Target::parse("127.0.0.1:80"),
            Err(TargetError::Scheme(_)) | Err(TargetError::Invalid(_))
        ));
        assert!(Target::parse("not a url").is_err());
    }
}
