//! `cicada run --web` end to end: the binary serves, autostarts, writes the reports when the
//! run ends, autoquits with the run's exit code, and refuses a non-loopback bind without a token.

mod support;

use axum::Router;
use axum::routing::get;
use support::{bin, scenario, serve_app, text};

const OK: &str = "name = \"web\"\n[[users]]\nwait = { constant = \"10ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

async fn run(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(bin())
        .args(args)
        .env_remove("CICADA_WEB_AUTH_TOKEN")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_writes_reports_and_autoquit_exits_with_the_runs_code() {
    let host = serve_app(Router::new().route("/x", get(|| async { "ok" }))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let json = dir.path().join("run.json");
    let common = [
        "run",
        path.to_str().unwrap(),
        "-H",
        &host,
        "-u",
        "2",
        "-r",
        "100",
        "-t",
        "2s",
        "--web",
        "--web-port",
        "0",
        "--autostart",
        "--autoquit",
        "1",
    ];
    let mut args = common.to_vec();
    args.extend(["--json", json.to_str().unwrap()]);
    let o = run(&args).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("web UI on http://127.0.0.1:"),
        "{}",
        text(&o)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["aggregated"]["requests"].as_u64().unwrap() > 0);

    // A threshold that fails: the last run's code, as headless.
    let mut args = common.to_vec();
    args.extend(["--threshold", "max<0.001ms"]);
    let o = run(&args).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[tokio::test]
async fn a_non_loopback_bind_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let o = run(&[
        "run",
        path.to_str().unwrap(),
        "-H",
        "http://127.0.0.1:9",
        "--web",
        "--web-host",
        "0.0.0.0",
        "--web-port",
        "0",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--web-auth-token"), "{}", text(&o));
    let o = run(&["run", path.to_str().unwrap(), "--web-port", "9000"]).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "--web-port needs --web: {}",
        text(&o)
    );
}

/// `cicada run --web --autostart` with a long run time, its address read from its stderr.
struct Running {
    child: tokio::process::Child,
    addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

async fn start_web(args: &[&str]) -> Running {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(bin())
        .args(args)
        .env_remove("CICADA_WEB_AUTH_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (found, addr) = tokio::sync::oneshot::channel();
    let log = std::sync::Arc::clone(&stderr);
    tokio::spawn(async move {
        let mut found = Some(found);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("web UI on http://").nth(1)
                && let Some(f) = found.take()
            {
                let _ = f.send(rest.split('/').next().unwrap_or_default().to_owned());
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), addr)
        .await
        .expect("the web UI's address on stderr")
        .unwrap();
    Running {
        child,
        addr,
        stderr,
    }
}

/// One HTTP/1.1 request (`Connection: close`); the status and the body.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// Polls the snapshot until requests were counted (the run is sending load).
async fn until_requests_counted(addr: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let addr = addr.to_owned();
        let (_, body) = tokio::task::spawn_blocking(move || http(&addr, "GET", "/api/snapshot"))
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["total_requests"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("no requests counted within a minute");
}

async fn exit_code(mut r: Running) -> (Option<i32>, String) {
    let status = tokio::time::timeout(std::time::Duration::from_secs(120), r.child.wait())
        .await
        .expect("the server quits")
        .unwrap();
    // The reader has the rest of stderr once the pipe closed.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = r.stderr.lock().unwrap().clone();
    (status.code(), log)
}

fn long_run_args<'a>(path: &'a str, host: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        path,
        "-H",
        host,
        "-u",
        "2",
        "-r",
        "100",
        "-t",
        "10m",
        "--web",
        "--web-port",
        "0",
        "--autostart",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_from_the_page_exits_with_its_verdict_and_ctrl_c_during_a_run_with_130() {
    let host = serve_app(Router::new().route("/x", get(|| async { "ok" }))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), OK);
    let path = path.to_str().unwrap();
    let json = dir.path().join("stopped.json");

    // Stopped with POST /api/stop, then --autoquit: the numbers pass, exit 0, and the report
    // says how the run ended, not that it was interrupted.
    let mut args = long_run_args(path, &host);
    args.extend(["--autoquit", "1", "--json", json.to_str().unwrap()]);
    let r = start_web(&args).await;
    until_requests_counted(&r.addr).await;
    let addr = r.addr.clone();
    let (status, body) = tokio::task::spawn_blocking(move || http(&addr, "POST", "/api/stop"))
        .await
        .unwrap();
    assert_eq!(status, 202, "{body}");
    let (code, log) = exit_code(r).await;
    assert_eq!(code, Some(0), "{log}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["run"]["interrupted"], false);
    let warnings = report["verdict"]["warnings"].to_string();
    assert!(warnings.contains("stopped from the web UI"), "{warnings}");

    // A failing threshold: stopped from the page, the verdict's code (1), not 130.
    let mut args = long_run_args(path, &host);
    args.extend(["--autoquit", "1", "--threshold", "max<0.001ms"]);
    let r = start_web(&args).await;
    until_requests_counted(&r.addr).await;
    let addr = r.addr.clone();
    tokio::task::spawn_blocking(move || http(&addr, "POST", "/api/stop"))
        .await
        .unwrap();
    let (code, log) = exit_code(r).await;
    assert_eq!(code, Some(1), "{log}");

    // Stopped from the page, then Ctrl-C once it has ended (no --autoquit): still the verdict.
    let r = start_web(&long_run_args(path, &host)).await;
    until_requests_counted(&r.addr).await;
    let addr = r.addr.clone();
    tokio::task::spawn_blocking(move || http(&addr, "POST", "/api/stop"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let addr = r.addr.clone();
        let (_, body) = tokio::task::spawn_blocking(move || http(&addr, "GET", "/api/snapshot"))
            .await
            .unwrap();
        if body.contains("\"state\":\"stopped\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never stopped: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    interrupt(&r);
    let (code, log) = exit_code(r).await;
    assert_eq!(code, Some(0), "{log}");

    // Ctrl-C while the run goes on: interrupted, 130, as headless.
    let r = start_web(&long_run_args(path, &host)).await;
    until_requests_counted(&r.addr).await;
    interrupt(&r);
    let (code, log) = exit_code(r).await;
    assert_eq!(code, Some(130), "{log}");
}

fn interrupt(r: &Running) {
    let pid = r.child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
