//! A quick open-loop load check for a running `dryad serve`: the load-test mix
//! (executions : metrics : execute = 5 : 3 : 1) at a fixed request rate for a fixed time,
//! latency measured from each request's *intended* start (no coordinated omission).
//! This is the service engineer's yardstick; the real benchmark uses cicada.
//!
//! ```text
//! cargo run --release -p dryad --example mixload -- 127.0.0.1:8000 agents.csv 450 30 64
//! #                                                  address        agent CSV  rate secs connections
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};

#[derive(Clone, Copy, Debug)]
enum Kind {
    List,
    Metrics,
    Execute,
}

const KINDS: [Kind; 3] = [Kind::List, Kind::Metrics, Kind::Execute];

struct Ticket {
    intended: Instant,
    kind: Kind,
    agent: usize,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn call(
    sender: &mut Sender,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await?;
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "dryad")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        anyhow::bail!("usage: mixload ADDR AGENTS.csv RATE SECS CONNECTIONS");
    }
    let addr = args[1].clone();
    let agents: Vec<String> = std::fs::read_to_string(&args[2])?
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let rate: f64 = args[3].parse()?;
    let secs: u64 = args[4].parse()?;
    let conns: usize = args[5].parse()?;
    anyhow::ensure!(
        !agents.is_empty() && rate > 0.0 && conns > 0,
        "bad arguments"
    );

    let mut login = connect(&addr).await?;
    let (status, body) = call(
        &mut login,
        "POST",
        "/api/v1/auth/login",
        "",
        Some(r#"{"username":"loadtest","password":"test123"}"#.to_owned()),
    )
    .await?;
    anyhow::ensure!(status == 200, "login failed: {status}");
    let token: String = serde_json::from_slice::<serde_json::Value>(&body)?["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let (tx, rx) = mpsc::channel::<Ticket>(100_000);
    let rx = Arc::new(Mutex::new(rx));
    let agents = Arc::new(agents);
    let mut workers = Vec::new();
    for _ in 0..conns {
        let rx = rx.clone();
        let addr = addr.clone();
        let token = token.clone();
        let agents = agents.clone();
        workers.push(tokio::spawn(async move {
            let mut results: Vec<(usize, Duration, bool)> = Vec::new();
            let mut sender = connect(&addr).await.ok();
            loop {
                let ticket = { rx.lock().await.recv().await };
                let Some(t) = ticket else { break };
                let agent = &agents[t.agent % agents.len()];
                let (method, path, body) = match t.kind {
                    Kind::List => (
                        "GET",
                        format!("/api/v1/agent-studio/agents/{agent}/executions?limit=50"),
                        None,
                    ),
                    Kind::Metrics => (
                        "GET",
                        format!("/api/v1/agent-studio/agents/{agent}/metrics"),
                        None,
                    ),
                    Kind::Execute => (
                        "POST",
                        "/api/v1/agent-studio/execute".to_owned(),
                        Some(format!(
                            r#"{{"agent_id":"{agent}","prompt":"load test prompt"}}"#
                        )),
                    ),
                };
                if sender.is_none() {
                    sender = connect(&addr).await.ok();
                }
                let ok = match sender.as_mut() {
                    Some(s) => matches!(call(s, method, &path, &token, body).await, Ok((200, _))),
                    None => false,
                };
                if !ok {
                    sender = None;
                }
                results.push((t.kind as usize, t.intended.elapsed(), ok));
            }
            results
        }));
    }

    let start = Instant::now();
    let total = (rate * secs as f64) as u64;
    let pattern = [0usize, 1, 0, 1, 0, 2, 0, 1, 0]; // 5 list : 3 metrics : 1 execute
    for i in 0..total {
        let intended = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(intended.into()).await;
        let kind = KINDS[pattern[(i % 9) as usize]];
        let agent = (i.wrapping_mul(2_654_435_761) % 1_000_003) as usize;
        if tx
            .send(Ticket {
                intended,
                kind,
                agent,
            })
            .await
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let mut per_kind: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut all = Vec::new();
    let mut errors = 0usize;
    for w in workers {
        for (k, d, ok) in w.await? {
            per_kind[k].push(d);
            all.push(d);
            errors += usize::from(!ok);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{} requests in {elapsed:.1} s ({:.0}/s), errors {errors} ({:.2} %)",
        all.len(),
        all.len() as f64 / elapsed,
        100.0 * errors as f64 / all.len().max(1) as f64
    );
    for (name, mut v) in ["executions", "metrics", "execute", "all"]
        .into_iter()
        .zip(per_kind.into_iter().chain(std::iter::once(all)))
    {
        v.sort();
        println!(
            "{name:>10}: n={:>6} p50={:>8.2?} p95={:>8.2?} p99={:>8.2?} max={:>8.2?}",
            v.len(),
            percentile(&v, 50.0),
            percentile(&v, 95.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}
