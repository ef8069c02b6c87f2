//! Bad input is a clear error before any request; a malformed response is a counted failure.

use std::path::Path;
use std::time::Duration;

use cicada::launch::{LaunchOptions, SetupError, prepare};
use cicada::runner::{RunError, Runner};
use cicada::scenario::{LoadSpec, ScenarioError, parse_scenario};
use cicada_report::model::FailureKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::{row, run_toml};

fn parse_err(toml: &str) -> ScenarioError {
    let scenario = match parse_scenario(toml, Path::new("bad.toml")) {
        Err(e) => return e,
        Ok(s) => s,
    };
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some("http://127.0.0.1:9".into()),
        load: LoadSpec {
            users: Some(1),
            ..LoadSpec::default()
        },
        ..LaunchOptions::default()
    };
    match prepare(&options) {
        Err(SetupError::Scenario(e)) => e,
        other => panic!("expected a scenario error, got {other:?}"),
    }
}

const TASK: &str = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";

#[test]
fn malformed_toml_names_line_and_column() {
    let e = parse_err("name = \"x\"\n[[users]]\nweight = = 3\n");
    let loc = e.location().expect("located");
    assert_eq!((loc.file.as_str(), loc.line), ("bad.toml", 3));
    assert!(e.to_string().starts_with("bad.toml:3:"), "{e}");
    let e = parse_err("[[users]]\nwieght = 3\n");
    assert!(e.to_string().contains("bad.toml:2:1"), "{e}");
    assert!(e.to_string().contains("wieght"), "{e}");
}

#[test]
fn undefined_variable_is_an_error() {
    let e = parse_err("[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/a/{{nope}}\"\n");
    let text = e.to_string();
    assert!(text.contains("undefined variable {{nope}}"), "{text}");
    assert!(text.starts_with("bad.toml:2:"), "{text}");
    let e = parse_err(&format!(
        "{TASK}headers = {{ Authorization = \"Bearer {{{{tok}}}}\" }}\n"
    ));
    assert!(e.to_string().contains("{{tok}}"), "{e}");
}

#[test]
fn zero_and_negative_weights_are_errors() {
    let e = parse_err("[[users]]\nweight = 0\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n");
    assert!(
        e.to_string().contains("bad.toml:2:10") && e.to_string().contains("at least 1"),
        "{e}"
    );
    let e = parse_err("[[users]]\n[[users.tasks]]\nweight = -2\nmethod = \"GET\"\npath = \"/x\"\n");
    assert!(
        e.to_string().contains("bad.toml:3:") && e.to_string().contains("-2"),
        "{e}"
    );
}

#[test]
fn negative_and_malformed_durations_are_errors() {
    let e = parse_err(
        "[[users]]\nwait = { constant = \"-1s\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n",
    );
    assert!(
        e.to_string().contains("bad.toml:2:") && e.to_string().contains("negative"),
        "{e}"
    );
    let e = parse_err(&format!("[load]\nrun_time = \"10 parsecs\"\n{TASK}"));
    assert!(
        e.to_string().contains("bad.toml:2:") && e.to_string().contains("invalid duration"),
        "{e}"
    );
    let e = parse_err(&format!("[defaults]\nrequest_timeout = \"0s\"\n{TASK}"));
    assert!(e.to_string().contains("greater than zero"), "{e}");
}

#[test]
fn missing_csv_is_an_error() {
    let e = parse_err(&format!(
        "[feeders.ids]\nfile = \"does-not-exist.csv\"\n{TASK}"
    ));
    assert!(
        e.to_string().contains("bad.toml:1:") && e.to_string().contains("does-not-exist.csv"),
        "{e}"
    );
}

#[test]
fn other_semantic_errors() {
    for (toml, needle) in [
        ("name = \"x\"\n", "no user types"),
        ("[[users]]\n", "has no tasks"),
        (
            "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\n",
            "both `method` and `path`",
        ),
        (
            "[[users]]\n[[users.tasks]]\nmethod = \"G T\"\npath = \"/x\"\n",
            "invalid HTTP method",
        ),
        (
            "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"x\"\n",
            "must start with '/'",
        ),
        (
            "[[users]]\nwait = { between = [\"3s\", \"1s\"] }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n",
            "min is above max",
        ),
        (
            &format!("thresholds = [\"p95 < fast\"]\n{TASK}"),
            "expected a number",
        ),
        (
            &format!("thresholds = [\"GET /y: p95<1s\"]\n{TASK}"),
            "not in the scenario",
        ),
        (
            &format!("[generators]\ng = {{ type = \"dice\" }}\n{TASK}"),
            "unknown type",
        ),
    ] {
        let e = parse_err(toml);
        assert!(e.to_string().contains(needle), "{toml:?}: {e}");
    }
}

#[test]
fn bad_plans_are_errors() {
    let scenario = parse_scenario(TASK, Path::new("ok.toml")).unwrap();
    for load in [
        LoadSpec::default(),
        LoadSpec {
            users: Some(0),
            ..LoadSpec::default()
        },
        LoadSpec {
            users: Some(1),
            spawn_rate: Some(-1.0),
            ..LoadSpec::default()
        },
        LoadSpec {
            users: Some(1),
            run_time: Some(Duration::ZERO),
            ..LoadSpec::default()
        },
    ] {
        let options = LaunchOptions {
            scenario: Some(scenario.clone()),
            host: Some("http://127.0.0.1:9".into()),
            load,
            ..LaunchOptions::default()
        };
        assert!(matches!(prepare(&options), Err(SetupError::Plan(_))));
    }
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some("ftp://x".into()),
        load: LoadSpec {
            users: Some(1),
            ..LoadSpec::default()
        },
        ..LaunchOptions::default()
    };
    assert!(matches!(prepare(&options), Err(SetupError::Target(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_fails_fast() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scenario = parse_scenario(TASK, Path::new("ok.toml")).unwrap();
    let options = LaunchOptions {
        scenario: Some(scenario),
        host: Some(format!("http://127.0.0.1:{port}")),
        load: LoadSpec {
            users: Some(1),
            ..LoadSpec::default()
        },
        ..LaunchOptions::default()
    };
    let started = std::time::Instant::now();
    let err = Runner::start(prepare(&options).unwrap()).await.unwrap_err();
    assert!(matches!(err, RunError::Unreachable(_)), "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A raw TCP server answering each connection with `reply` and closing.
async fn raw_server(reply: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// The malformed-response corpus: each reply (sent to every request, then the connection is
/// closed) is a counted failure of the right kind with its reason, never a panic or a hang
/// (the run ends by its iteration bound long before its time bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_responses_are_counted_failures() {
    let load = || LoadSpec {
        users: Some(2),
        spawn_rate: Some(100.0),
        iterations: Some(20),
        run_time: Some(Duration::from_secs(10)),
        ..LoadSpec::default()
    };
    let mut oversized = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..100 {
        oversized.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(3000)).as_bytes());
    }
    let oversized: &'static [u8] = Vec::leak(oversized);
    let corpus: [(&'static [u8], FailureKind, &str); 13] = [
        (
            b"this is not http\r\n\r\n",
            FailureKind::Protocol,
            "not an HTTP/1.x response",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
            FailureKind::Protocol,
            "before the response was complete",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Le",
            FailureKind::Protocol,
            "before the response was complete",
        ),
        (
            b"HTTP/1.1 200",
            FailureKind::Protocol,
            "before the response was complete",
        ),
        (
            b"",
            FailureKind::Connection,
            "connection closed before any response",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n",
            FailureKind::Protocol,
            "invalid chunk size line",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            FailureKind::Protocol,
            "before the response was complete",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
            FailureKind::Protocol,
            "chunk data not followed by CRLF",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            FailureKind::Protocol,
            "conflicting Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",
            FailureKind::Protocol,
            "invalid Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nBad\x01Header: x\r\n\r\n",
            FailureKind::Protocol,
            "invalid header name",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            FailureKind::Protocol,
            "101 Switching Protocols",
        ),
        (
            oversized,
            FailureKind::Protocol,
            "head larger than 262144 bytes",
        ),
    ];
    for (reply, kind, reason) in corpus {
        let host = raw_server(reply).await;
        let report = run_toml(TASK, &host, load()).await;
        let what = String::from_utf8_lossy(&reply[..reply.len().min(60)]).to_string();
        let r = row(&report, "GET", "/x");
        assert_eq!(r.requests, 20, "{what}");
        assert_eq!(r.failures, 20, "{what}");
        assert!(
            report
                .failures
                .iter()
                .all(|f| f.kind == kind && f.message.contains(reason)),
            "{what}: {:?}",
            report.failures
        );
    }
}

/// Bytes after a complete response on a keep-alive connection are not the next response:
/// the response counts, the connection is dropped, the next request opens a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_body_costs_the_connection_not_the_response() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while crate::util::next_request(&mut sock, &mut buf).await {
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE";
                    if sock.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let load = LoadSpec {
        users: Some(1),
        spawn_rate: Some(100.0),
        iterations: Some(10),
        run_time: Some(Duration::from_secs(10)),
        ..LoadSpec::default()
    };
    let toml = format!("{TASK}checks = [{{ body_contains = \"ok\" }}]\n");
    let report = run_toml(&toml, &format!("http://{addr}"), load).await;
    let r = row(&report, "GET", "/x");
    assert_eq!((r.requests, r.failures), (10, 0), "{:?}", report.failures);
    assert_eq!(report.aggregated.total_bytes, 20);
    // One connection per request, plus the pre-flight check.
    assert_eq!(accepted.load(Ordering::Relaxed), 10 + 1);
}

/// `thresholds` written under `[defaults]` (where TOML puts it) is refused with its place and
/// the fix: move it above the first table.
#[test]
fn a_top_level_key_after_a_table_says_to_move_it_up() {
    let toml = "name = \"x\"\n\n[defaults]\nhost = \"http://127.0.0.1:9\"\nthresholds = [\"p95<200ms\"]\n\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n";
    let e = parse_err(toml);
    let loc = e.location().expect("located");
    assert_eq!((loc.line, loc.column), (5, 1), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("bad.toml:5:1: unknown field `thresholds`"),
        "{text}"
    );
    assert!(
        text.contains("written after the table header [defaults]"),
        "{text}"
    );
    assert!(
        text.contains("move it above the first table, line 3"),
        "{text}"
    );
    // A key that is unknown everywhere gets no such advice.
    let e = parse_err("[defaults]\nhots = \"http://127.0.0.1:9\"\n");
    assert!(!e.to_string().contains("top-level"), "{e}");
}
