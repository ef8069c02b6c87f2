//! Shared by the web tests: a local HTTP server that counts its open connections, the web
//! server on 127.0.0.1 port 0 around a real session, and a plain HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cicada::launch::LaunchOptions;
use cicada_session::log::Stderr;
use cicada_session::{Session, SessionOptions};
use cicada_web::{Controller, LocalDriver, Quit, WebError, WebOptions, bind, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A keep-alive HTTP/1.1 server answering `200 ok` after `delay`; `open` counts the
/// connections open right now (the engine holds one per user).
pub struct CountingServer {
    pub url: String,
    pub open: Arc<AtomicU64>,
}

pub async fn counting_server(delay: Duration) -> CountingServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&open);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                'conn: loop {
                    while let Some(end) = find(&buf, b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        tokio::time::sleep(delay).await;
                        if sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await
                            .is_err()
                        {
                            break 'conn;
                        }
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    CountingServer {
        url: format!("http://{addr}"),
        open,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A scenario of one user type that GETs `/` with a short wait, in a temp dir.
pub fn scenario(dir: &std::path::Path, host: &str) -> PathBuf {
    let path = dir.join("load.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"web test\"\n[defaults]\nhost = \"{host}\"\n[load]\nusers = 2\nspawn_rate = 100\nrun_time = \"60s\"\n\
             [[users]]\nname = \"reader\"\nwait = {{ constant = \"20ms\" }}\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/\"\n"
        ),
    )
    .unwrap();
    path
}

/// The web server around a real session, on 127.0.0.1 port 0, until the test ends.
pub struct Web {
    pub addr: SocketAddr,
    pub controller: Controller,
    quit: Option<tokio::sync::oneshot::Sender<()>>,
    pub served: tokio::task::JoinHandle<Result<Quit, WebError>>,
}

impl Web {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Quit as Ctrl-C would.
    pub async fn quit(mut self) -> Quit {
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
        self.served.await.unwrap().unwrap()
    }
}

pub async fn start_web(scenario: &std::path::Path, options: WebOptions) -> Web {
    let base = LaunchOptions::new(scenario);
    let loaded = cicada::scenario::load_scenario_file(scenario).unwrap();
    // The counting server runs in this process: the monitor tracks it as the target.
    let session = Session::open(
        SessionOptions {
            analysis: cicada_session::analysis::AnalysisOptions {
                target_pid: Some(std::process::id()),
                ..Default::default()
            },
            ..SessionOptions::default()
        },
        Box::new(Stderr),
        std::future::pending(),
    )
    .await
    .unwrap();
    let driver = Arc::new(LocalDriver::new(Arc::new(session)));
    // The counting server runs in this process: it is the target whose CPU/RSS is shown.
    let controller = Controller::new(driver, base, loaded, 2, Box::new(|_| 0))
        .with_target_pid(Some(std::process::id()));
    let (listener, auth) = bind(&options).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let c = controller.clone();
    let served = tokio::spawn(async move {
        serve(listener, auth, c, &options, async {
            let _ = rx.await;
        })
        .await
    });
    Web {
        addr,
        controller,
        quit: Some(tx),
        served,
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One plain HTTP/1.1 request (`Connection: close`), from a blocking thread.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let (method, path) = (method.to_owned(), path.to_owned());
    let body = body.map(str::to_owned);
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = &body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = &body {
            req.push_str(b);
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Answer {
            status,
            head: head.to_owned(),
            body,
        }
    })
    .await
    .unwrap()
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// Read the snapshot stream until `count` events arrived; returns their JSON data.
pub async fn stream_events(addr: SocketAddr, count: usize) -> Vec<serde_json::Value> {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut text = String::new();
        let mut chunk = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(30);
        let events = |t: &str| -> Vec<serde_json::Value> {
            t.split("event: snapshot\ndata: ")
                .skip(1)
                .filter_map(|e| e.split_once('\n').map(|(d, _)| d))
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect()
        };
        while events(&text).len() < count {
            assert!(
                Instant::now() < deadline,
                "the stream sent too few events: {text}"
            );
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "the stream ended: {text}");
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("content-type: text/event-stream")
        );
        events(&text)
    })
    .await
    .unwrap()
}

/// Poll `f` until it is true or `timeout` passed; returns whether it became true.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}
