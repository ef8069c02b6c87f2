//! The readiness probe: an HTTP/1.1 GET (hyper) on loopback, answered by a status code.
//!
//! A managed target is local by definition, so the readiness URL must name a loopback address
//! (`127.0.0.0/8`, `::1` or `localhost`) over `http://`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A parsed `http://HOST:PORT/PATH` readiness URL on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyUrl {
    host: String,
    port: u16,
    path: String,
}

/// Why a readiness URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --target-ready URL `{url}`: {reason}")]
pub struct ReadyUrlError {
    pub url: String,
    pub reason: &'static str,
}

impl FromStr for ReadyUrl {
    type Err = ReadyUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ReadyUrlError {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| fail("expected http://HOST:PORT/PATH"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority).ok_or_else(|| fail("bad host or port"))?;
        let loopback = host == "localhost"
            || host
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if !loopback {
            return Err(fail(
                "a managed target must listen on loopback (127.0.0.1, ::1 or localhost)",
            ));
        }
        Ok(ReadyUrl {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host, port.parse().ok()?)),
        Some(_) => None,
        None if !authority.is_empty() => Some((authority, 80)),
        None => None,
    }
}

impl fmt::Display for ReadyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// Why one readiness probe did not get a status.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("not an HTTP response: {0}")]
    Http(#[from] hyper::Error),
}

impl ReadyUrl {
    /// GET the URL once and return the response status code.
    pub async fn probe(&self, timeout: Duration) -> Result<u16, ProbeError> {
        tokio::time::timeout(timeout, self.probe_inner())
            .await
            .map_err(|_| ProbeError::Timeout(timeout))?
    }

    async fn probe_inner(&self) -> Result<u16, ProbeError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let request = http::Request::get(self.path.as_str())
            .header(http::header::HOST, self.authority())
            .header(http::header::USER_AGENT, "cicada")
            .header(http::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let driver = tokio::spawn(connection);
        // The status is all a probe needs: the connection is dropped with the body unread.
        let status = sender.send_request(request).await.map(|r| r.status());
        driver.abort();
        Ok(status?.as_u16())
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_urls() {
        let url: ReadyUrl = "http://127.0.0.1:8000/ready".parse().unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 8000, "/ready")
        );
        let url: ReadyUrl = "http://localhost:9000".parse().unwrap();
        assert_eq!((url.port, url.path.as_str()), (9000, "/"));
        let url: ReadyUrl = "http://[::1]:81/x?y=1".parse().unwrap();
        assert_eq!(url.to_string(), "http://[::1]:81/x?y=1");
        let url: ReadyUrl = "http://127.1.2.3/".parse().unwrap();
        assert_eq!(url.port, 80);
    }

    #[test]
    fn rejects_bad_and_remote_urls() {
        for bad in [
            "https://127.0.0.1:8000/ready",
            "127.0.0.1:8000",
            "http://:8000/",
            "http://127.0.0.1:notaport/",
            "http://127.0.0.1:70000/",
            "http://10.0.0.1:8000/ready",
            "http://example.com/ready",
            "http://[::1/",
        ] {
            assert!(bad.parse::<ReadyUrl>().is_err(), "{bad} should be rejected");
        }
    }
}
