//! The wire: a magic preamble each way, then frames of a 4-byte big-endian length and one
//! JSON message. JSON because every message but the heartbeat carries a [`RunReport`], which
//! already is serde JSON with a committed schema (a snapshot is the report a `--json` run
//! writes, so nothing has two encodings); a length prefix because a report is one large value
//! and the reader must know where it ends. Frames above [`MAX_FRAME`] are refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cicada_report::RunReport;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::spec::RunSpec;

/// Sent first by both sides: a peer that is not cicada (an HTTP server, a stray client) is
/// told apart from a cicada of another protocol before any frame is read. The digit is the
/// protocol version.
pub const MAGIC: &[u8; 8] = b"CICADA/1";
/// The protocol version of [`MAGIC`], also sent in the hello.
pub const PROTOCOL: u32 = 1;
/// The largest frame accepted (a final report with its histograms is far below it).
pub const MAX_FRAME: u32 = 256 << 20;
/// The largest first message (a hello, an accept or a refusal): a peer that has not been
/// admitted cannot make the other side allocate more.
pub const MAX_HANDSHAKE_FRAME: u32 = 64 << 10;
/// How long each side waits for the other's half of the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often each side sends its heartbeat (the worker's is its per-second data).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Default time without a word from the other side after which it is lost.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default port of the coordinator (Locust's).
pub const DEFAULT_PORT: u16 = 5557;

/// A worker's first message.
#[derive(Clone, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// The worker's cicada version; must equal the coordinator's.
    pub version: String,
    /// The scenario's name (for messages).
    pub scenario: String,
    /// [`crate::scenario_hash`] of the worker's scenario file.
    pub scenario_hash: String,
    pub hostname: String,
    pub pid: u32,
    /// `--master-auth-token`; compared in constant time, never logged.
    pub token: Option<String>,
}

impl std::fmt::Debug for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hello")
            .field("protocol", &self.protocol)
            .field("version", &self.version)
            .field("scenario", &self.scenario)
            .field("scenario_hash", &self.scenario_hash)
            .field("hostname", &self.hostname)
            .field("pid", &self.pid)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a worker sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToCoordinator {
    Hello(Hello),
    /// Answer to [`ToWorker::Ping`]: the ping's own time back and the worker's clock.
    Pong {
        ping_ms: u64,
        worker_ms: u64,
    },
    /// The run started (the engine checked the target and is waiting for `start_at`).
    Started,
    /// The run could not start on this worker.
    StartFailed {
        reason: String,
    },
    /// This second's data: the worker's whole report so far (cumulative, so a lost message
    /// loses nothing and the coordinator's merge of the latest ones is exact).
    Progress(Box<Progress>),
    /// The worker's part ended; its final report.
    Finished {
        report: Box<RunReport>,
    },
}

/// One second of a worker's run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub report: RunReport,
    /// Users alive (closed model) or iterations in flight (open model).
    pub users: u64,
    /// CPU of the worker process over the last second, % of one core.
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<u64>,
}

/// What the coordinator sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// The hello is accepted: the worker is number `index` of `count`.
    Accept {
        index: u64,
        count: u64,
        /// The coordinator's id (one per coordinator process).
        coordinator_id: String,
    },
    /// The hello is refused, and why (the worker prints it and exits).
    Refuse {
        reason: String,
    },
    /// Heartbeat, with the coordinator's wall clock (ms since the Unix epoch).
    Ping {
        ping_ms: u64,
    },
    /// Run this part of a run.
    Start(Box<StartOrder>),
    /// Closed model: the whole run's new number of users.
    SetUsers {
        total: u64,
    },
    /// Open model: the whole run's new rate.
    SetRate {
        total: f64,
    },
    ResetStats,
    /// Stop gracefully (users finish their current request).
    Stop,
    /// The coordinator is done: exit.
    Quit,
}

/// A run's start, as each worker receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartOrder {
    /// The run's id (one per run).
    pub run_id: String,
    pub spec: RunSpec,
    /// The run's segment sequence (`"0,1/3,2/3,1"`) and this worker's place in it.
    pub sequence: String,
    pub index: u64,
    /// Common start, ms since the Unix epoch on the coordinator's clock.
    pub start_at_ms: u64,
}

/// A wire failure.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the peer is not cicada (its first bytes were {got:?}, expected {expected:?})")]
    BadMagic { got: String, expected: String },
    #[error("a frame of {len} bytes is above the limit of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    #[error("a message does not decode: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Write the preamble.
pub async fn write_magic<W: AsyncWrite + Unpin>(w: &mut W) -> Result<(), ProtocolError> {
    w.write_all(MAGIC).await?;
    Ok(())
}

/// Read and check the preamble.
pub async fn read_magic<R: AsyncRead + Unpin>(r: &mut R) -> Result<(), ProtocolError> {
    let mut got = [0u8; MAGIC.len()];
    let mut n = 0;
    while n < got.len() {
        let read = r.read(&mut got[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
    }
    if &got[..n] != MAGIC {
        return Err(ProtocolError::BadMagic {
            got: String::from_utf8_lossy(&got[..n]).into_owned(),
            expected: String::from_utf8_lossy(MAGIC).into_owned(),
        });
    }
    Ok(())
}

/// Write one message as a frame.
pub async fn write_msg<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), ProtocolError> {
    let body = serde_json::to_vec(msg)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or(ProtocolError::TooLarge {
            len: u32::MAX,
            max: MAX_FRAME,
        })?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&body).await?;
    w.flush().await?;
    Ok(())
}

/// Read one message; `None` when the peer closed the connection between frames.
pub async fn read_msg<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<Option<T>, ProtocolError> {
    read_msg_max(r, MAX_FRAME).await
}

/// [`read_msg`] of a frame of at most `max` bytes.
pub async fn read_msg_max<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    max: u32,
) -> Result<Option<T>, ProtocolError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(ProtocolError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Milliseconds since the Unix epoch of `t`.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The instant `ms` after the Unix epoch.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_a_foreign_peer_is_told_apart() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_magic(&mut a).await.unwrap();
        write_msg(&mut a, &ToWorker::SetUsers { total: 7 })
            .await
            .unwrap();
        drop(a);
        read_magic(&mut b).await.unwrap();
        let m: Option<ToWorker> = read_msg(&mut b).await.unwrap();
        assert!(matches!(m, Some(ToWorker::SetUsers { total: 7 })));
        let end: Option<ToWorker> = read_msg(&mut b).await.unwrap();
        assert!(end.is_none());

        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(b"HTTP/1.1 400 Bad Request\r\n").await.unwrap();
        let e = read_magic(&mut b).await.unwrap_err();
        assert!(e.to_string().contains("not cicada"), "{e}");
        // "HTTP" read as a length is far above the limit.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(b"HTTP/1.1").await.unwrap();
        let e = read_msg::<_, ToWorker>(&mut b).await.unwrap_err();
        assert!(matches!(e, ProtocolError::TooLarge { .. }), "{e}");
        // Before the handshake a frame may be 64 KiB at most.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&(100u32 << 10).to_be_bytes()).await.unwrap();
        let e = read_msg_max::<_, ToWorker>(&mut b, MAX_HANDSHAKE_FRAME)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("limit of 65536 bytes"), "{e}");
    }

    #[test]
    fn a_hello_never_shows_its_token() {
        let hello = Hello {
            protocol: PROTOCOL,
            version: "0.1.0".into(),
            scenario: "s".into(),
            scenario_hash: "h".into(),
            hostname: "host".into(),
            pid: 1,
            token: Some("secret-value".into()),
        };
        assert!(!format!("{hello:?}").contains("secret-value"));
    }
}
