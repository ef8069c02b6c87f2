//! Why a coordinator or a worker could not do its part. Each message says what to do.

use std::net::SocketAddr;

use crate::protocol::ProtocolError;

/// A distributed run could not be set up or was lost.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("--expect-workers must be at least 1")]
    NoWorkers,
    #[error(
        "--master-bind-host {0:?} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, or * for all)"
    )]
    BadBindHost(String),
    #[error(
        "--master-bind-host {0} listens beyond loopback: set --master-auth-token (or \
         CICADA_MASTER_TOKEN) and give the same token to every worker"
    )]
    TokenRequired(std::net::IpAddr),
    #[error(
        "cannot listen on {addr}: the address is in use (is another coordinator running on \
         this port? choose another with --master-bind-port)"
    )]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{attached} of {expected} workers attached within {waited_s} s (--expect-workers-max-wait); not starting"
    )]
    NotEnoughWorkers {
        attached: u64,
        expected: u64,
        waited_s: u64,
    },
    #[error(
        "{attached} of {expected} workers are attached: start the rest (cicada run SCENARIO --worker --master-host …) first"
    )]
    WorkersMissing { attached: u64, expected: u64 },
    #[error("a run is in progress on the workers: stop it first")]
    Busy,
    #[error("cannot reach the coordinator at {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error(
        "the coordinator at {addr} did not complete the handshake: {source} (is it a cicada coordinator of this version, `cicada run --master`?)"
    )]
    Handshake {
        addr: String,
        #[source]
        source: ProtocolError,
    },
    #[error(
        "the coordinator at {addr} did not answer the hello within {timeout_s} s (is it a cicada coordinator?)"
    )]
    HandshakeTimeout { addr: String, timeout_s: u64 },
    #[error("the coordinator at {addr} refused this worker: {reason}")]
    Refused { addr: String, reason: String },
    #[error("cannot read the scenario {path}: {source}")]
    Scenario {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    BadScenario(String),
}
