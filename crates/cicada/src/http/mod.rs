//! The HTTP side: the engine's own HTTP/1.1 client, one per user ([`client`]): requests
//! written into a reused buffer ([`request`]) and sent in one write, responses decoded in
//! place from a reused read buffer ([`decode`], with `httparse`) on the user's connection
//! ([`conn`] over a [`stream`]), kept as a [`response::ResponseView`] that checks, captures,
//! cookies ([`cookies`]) and `Server-Timing` read; source addresses ([`local`]). TLS through rustls ([`tls`]) and the
//! pre-flight reachability check ([`preflight`]). No channel, task hop or allocation per request
//! in the steady state.

pub mod client;
pub mod conn;
pub mod cookies;
pub mod decode;
pub mod local;
pub mod request;
pub mod response;
pub mod stream;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use crate::target::Target;

pub use client::{ClientSettings, Exchange, HttpFailure, PARK_AFTER, UserClient};
pub use decode::Limits;
pub use local::{LocalAddrsError, parse_local_addrs};
pub use request::{Prepared, RequestError, RequestWriter};
pub use response::{EXCERPT_LEN, ResponseView};

/// Why the target cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum UnreachableError {
    #[error("cannot resolve target host {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("target {url} is unreachable: {message}")]
    Connect { url: String, message: String },
}

/// Resolve the target's addresses (in resolver order).
pub async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, UnreachableError> {
    let fail = |message: String| UnreachableError::Resolve {
        host: target.host.clone(),
        message,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| fail(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(fail("no address found".to_string()));
    }
    Ok(addrs)
}

/// Open (and close) one TCP connection to the target, to fail fast before any load. Tries each
/// address (e.g. `localhost` may resolve to `::1` and `127.0.0.1`) and returns the first that
/// accepts.
pub async fn preflight(
    target: &Target,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<SocketAddr, UnreachableError> {
    let mut errors = Vec::new();
    for addr in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(*addr),
            Ok(Err(e)) => errors.push(format!("{addr}: {e}")),
            Err(_) => errors.push(format!("{addr}: no answer within {timeout:?}")),
        }
    }
    Err(UnreachableError::Connect {
        url: target.url.clone(),
        message: errors.join("; "),
    })
}
