//! Test helpers: start an axum app on 127.0.0.1:0, run a scenario written as TOML.

use std::net::SocketAddr;
use std::path::Path;

use cicada::launch::{LaunchOptions, prepare};
use cicada::runner::{RunConfig, Runner};
use cicada::scenario::{LoadSpec, parse_scenario};
use cicada_report::RunReport;

/// Serve `app` on a fresh loopback port in the background; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// Parse TOML scenario text (relative feeder paths resolve against `dir`) and prepare a run.
pub fn config(toml: &str, dir: &Path, host: &str, load: LoadSpec) -> RunConfig {
    let scenario = parse_scenario(toml, &dir.join("test.toml"))
        .unwrap_or_else(|e| panic!("scenario does not parse: {e}"));
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some(host.to_string()),
        load,
        seed: Some(7),
        ..LaunchOptions::default()
    };
    prepare(&options).expect("scenario is valid")
}

/// Run to completion.
pub async fn run(config: RunConfig) -> RunReport {
    Runner::start(config)
        .await
        .expect("run starts")
        .wait()
        .await
        .expect("run ends")
}

/// Parse, prepare and run in one go.
pub async fn run_toml(toml: &str, host: &str, load: LoadSpec) -> RunReport {
    run(config(toml, Path::new("."), host, load)).await
}

/// A report row by method and name.
pub fn row<'a>(
    report: &'a RunReport,
    method: &str,
    name: &str,
) -> &'a cicada_report::model::RequestStats {
    report
        .requests
        .iter()
        .find(|r| r.method == method && r.name == name)
        .unwrap_or_else(|| panic!("no row {method} {name}"))
}

/// Read from `sock` until `buf` holds a whole request head (the raw test servers' requests have
/// no body) and take it out of `buf`; `false` once the peer closed or the read failed.
pub async fn next_request(sock: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            return true;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A user's HTTP client for `url` (plain HTTP) with a 5 s connect timeout and `timeout` per
/// request.
pub fn user_client(url: &str, timeout: std::time::Duration) -> cicada::http::UserClient {
    let target = cicada::target::Target::parse(url).unwrap();
    let addr = format!("{}:{}", target.host, target.port).parse().unwrap();
    let mut settings = cicada::http::ClientSettings::new(target, addr);
    settings.request_timeout = timeout;
    cicada::http::UserClient::new(std::sync::Arc::new(settings))
}

/// `GET path` on `client`, the body kept when `want_body`.
pub async fn get(
    client: &mut cicada::http::UserClient,
    path: &str,
    want_body: bool,
) -> Result<cicada::http::Exchange, cicada::http::HttpFailure> {
    client
        .call(&http::Method::GET, path, &[], None, want_body)
        .await
}
