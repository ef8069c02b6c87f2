//! dryad's API from a test's side: a request over a fresh connection, a login, the executions
//! of some agents, and dryad's own request counts from `/metrics`.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use super::{get, text};

/// One HTTP/1.1 request over a fresh connection; returns the status and the body.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// A bearer token for the seeded `loadtest` user.
pub fn token(base: &str) -> String {
    let (status, body) = http(
        base,
        "POST",
        "/api/v1/auth/login",
        None,
        r#"{"username":"loadtest","password":"test123"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// Every execution dryad holds for these agents.
pub fn executions(base: &str, token: &str, agents: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for a in agents {
        let path = format!("/api/v1/agent-studio/agents/{a}/executions?limit=100");
        let (status, body) = http(base, "GET", &path, Some(token), "");
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        out.extend(v["executions"].as_array().unwrap().iter().cloned());
    }
    out
}

/// dryad's own count of requests to a route (all statuses), from its `/metrics`.
pub fn served(base: &str, method: &str, route: &str) -> u64 {
    let metrics = get(&format!("{base}/metrics")).unwrap();
    let needle = format!("dryad_http_requests_total{{method=\"{method}\",route=\"{route}\",");
    metrics
        .lines()
        .filter(|l| l.starts_with(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
