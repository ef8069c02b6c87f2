//! The real `dryad serve` binary on 127.0.0.1:0, and raw HTTP/1.1 requests to it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The JWT secret the spawned servers sign with.
pub const SERVER_SECRET: &str = "restart-test-secret";

/// A running `dryad serve`; killed on drop.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

/// Starts `dryad serve` on `url` with fast polling and scaling, plus `extra` flags; returns
/// once it listens.
pub async fn start(url: &str, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dryad"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", url])
        .args(["--poll-interval-ms", "50", "--autoscale-interval-ms", "200"])
        .args(extra)
        .env("DRYAD_JWT_SECRET", SERVER_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn dryad");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("dryad did not start in time")
        .unwrap()
        .expect("dryad exited before listening");
    let addr = line
        .strip_prefix("dryad listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server { child, addr }
}

/// A response, read whole.
#[derive(Debug)]
pub struct RawReply {
    /// Status code (0 if the response was not HTTP).
    pub status: u16,
    /// The head: status line and headers.
    pub head: String,
    /// The body.
    pub body: String,
}

impl RawReply {
    /// The body as JSON (Null if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// `pool;dur=` of `Server-Timing`, milliseconds.
    pub fn pool_wait_ms(&self) -> f64 {
        let timing = self
            .header("server-timing")
            .unwrap_or_else(|| panic!("no Server-Timing in {}", self.head));
        timing
            .split(',')
            .find_map(|part| part.trim().strip_prefix("pool;dur="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no pool;dur in {timing:?}"))
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> RawReply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    exchange(stream, addr, method, path, &headers, body).await
}

/// Write one request with `Connection: close` and read the whole reply.
async fn exchange(
    mut stream: TcpStream,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> RawReply {
    let body = body.map(ToString::to_string).unwrap_or_default();
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    RawReply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// One value of a `/metrics` exposition: the sample line that starts with `series ` exactly.
pub fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{exposition}"))
}

/// One HTTP/1.1 request over a fresh connection opened from `source` (any local address, e.g.
/// `127.0.0.2`, to stand for another client), with extra header lines.
pub async fn request_from(
    source: std::net::IpAddr,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> RawReply {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .expect("bind the source address");
    let stream = socket
        .connect(addr.parse().expect("server address"))
        .await
        .expect("connect");
    exchange(stream, addr, method, path, headers, body).await
}

/// The loopback address the tests' own requests come from.
pub const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// `/metrics` of a running server.
pub async fn metrics(addr: &str) -> String {
    request(addr, "GET", "/metrics", None, None).await.body
}
