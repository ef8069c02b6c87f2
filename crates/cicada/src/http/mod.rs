//! The HTTP side: per-user clients ([`client`]), cookies ([`cookies`]), TLS ([`tls`]) and the
//! pre-flight reachability check ([`preflight`]).

pub mod client;
pub mod cookies;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use crate::target::Target;

pub use client::{ClientSettings, HttpFailure, HttpResponse, UserClient};

/// Why the target cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum UnreachableError {
    #[error("cannot resolve target host {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("target {url} is unreachable: {message}")]
    Connect { url: String, message: String },
}

/// Resolve the target's address.
pub async fn resolve(target: &Target) -> Result<SocketAddr, UnreachableError> {
    let fail = |message: String| UnreachableError::Resolve {
        host: target.host.clone(),
        message,
    };
    let mut addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| fail(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| fail("no address found".to_string()))
}

/// Open (and close) one TCP connection to the target, to fail fast before any load.
pub async fn preflight(
    target: &Target,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), UnreachableError> {
    let fail = |message: String| UnreachableError::Connect {
        url: target.url.clone(),
        message,
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(format!("{e} (connecting to {addr})"))),
        Err(_) => Err(fail(format!(
            "no answer within {timeout:?} (connecting to {addr})"
        ))),
    }
}
