//! The readiness probe: a plain HTTP/1.1 GET on loopback, answered by a status code.
//!
//! A managed target is local by definition, so the readiness URL must name a loopback address
//! (`127.0.0.0/8`, `::1` or `localhost`) over `http://`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    #[error("not an HTTP response")]
    NotHttp,
}

impl ReadyUrl {
    /// GET the URL once and return the response status code.
    pub async fn probe(&self, timeout: Duration) -> Result<u16, ProbeError> {
        tokio::time::timeout(timeout, self.probe_inner())
            .await
            .map_err(|_| ProbeError::Timeout(timeout))?
    }

    async fn probe_inner(&self) -> Result<u16, ProbeError> {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mut stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: cicada\r\nConnection: close\r\n\r\n",
            self.path, host, self.port
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(64);
        let mut byte = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let n = stream.read(&mut byte).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&byte[..n]);
        }
        parse_status_line(&head).ok_or(ProbeError::NotHttp)
    }
}

fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?.parse().ok()?;
    Some(code)
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

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }
}
