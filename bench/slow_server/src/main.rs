//! `slow-server`: answers every request after a fixed delay (10 ms by default), and reports the
//! delay it really served, so a load generator's latency overhead can be computed as
//! "what the tool reported" minus "what the server itself spent".
//!
//! ```text
//! slow-server [--addr 127.0.0.1:0] [--delay-ms 10]
//! ```
//! Prints `listening on ADDR` on stdout once bound. `GET /__stats` returns the server-side
//! latency of the requests served since the last `GET /__stats?reset` as JSON (milliseconds);
//! `?reset` also clears it. Every other request sleeps for the delay and answers `200 slow`.
//! Runs on one thread (pin it with taskset); the delay is a blocking `nanosleep` on the
//! blocking pool, which is far more exact than a 1 ms timer-wheel tick.

mod args;
mod stats;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::stats::ServedLatency;

fn main() {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!(
                "slow-server: {message}\nusage: slow-server [--addr 127.0.0.1:0] [--delay-ms 10]"
            );
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime builds");
    if let Err(e) = runtime.block_on(serve(args)) {
        eprintln!("slow-server: {e}");
        std::process::exit(1);
    }
}

async fn serve(args: args::Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let stats = Arc::new(ServedLatency::new());
    let delay = args.delay;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                stream.set_nodelay(true)?;
                let stats = Arc::clone(&stats);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, delay, Arc::clone(&stats)));
                    // A client closing mid-request is normal at the end of a run: nothing to report.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    delay: Duration,
    stats: Arc<ServedLatency>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/__stats" {
        let reset = req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "reset"));
        let body = stats.json(reset);
        return Ok(Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid"));
    }
    let started = Instant::now();
    // nanosleep on the blocking pool: exact to tens of microseconds, unlike the timer wheel.
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
    stats.record(started.elapsed());
    Ok(Response::new(Full::new(Bytes::from_static(b"slow\n"))))
}
