//! HTTPS through rustls against a real TLS server with a self-signed certificate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cicada::launch::{LaunchOptions, prepare};
use cicada::runner::Runner;
use cicada::scenario::{LoadSpec, parse_scenario};
use cicada_report::model::FailureKind;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Returns the URL and the number of accepted connections.
async fn tls_server() -> (String, Arc<AtomicU64>) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"secure"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://127.0.0.1:{}", addr.port()), accepted)
}

const SCENARIO: &str = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/\"\nchecks = [{ body_contains = \"secure\" }]\n";

async fn run_https(host: &str, insecure: bool) -> cicada_report::RunReport {
    run_scenario(SCENARIO, host, insecure).await
}

async fn run_scenario(toml: &str, host: &str, insecure: bool) -> cicada_report::RunReport {
    let options = LaunchOptions {
        scenario: Some(parse_scenario(toml, std::path::Path::new("tls.toml")).unwrap()),
        host: Some(host.to_string()),
        load: LoadSpec {
            users: Some(2),
            spawn_rate: Some(100.0),
            iterations: Some(20),
            run_time: Some(Duration::from_secs(10)),
            ..LoadSpec::default()
        },
        insecure,
        ..LaunchOptions::default()
    };
    Runner::start(prepare(&options).unwrap())
        .await
        .unwrap()
        .wait()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_verifies_certificates_unless_insecure() {
    let (host, _) = tls_server().await;
    let verified = run_https(&host, false).await;
    assert_eq!(verified.aggregated.requests, 20);
    assert_eq!(verified.aggregated.failures, 20);
    assert!(
        verified
            .failures
            .iter()
            .all(|f| f.kind == FailureKind::Other && f.message.contains("TLS")),
        "{:?}",
        verified.failures
    );

    let insecure = run_https(&host, true).await;
    assert_eq!(insecure.aggregated.requests, 20);
    assert_eq!(insecure.aggregated.failures, 0, "{:?}", insecure.failures);
    assert!(insecure.aggregated.connect_mean_ms.is_some());
}

/// Users waiting 60 ms park their TLS connection between requests and resume the same session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_connections_survive_parking() {
    let (host, accepted) = tls_server().await;
    let toml = SCENARIO.replace("[[users]]\n", "[[users]]\nwait = { constant = \"60ms\" }\n");
    let report = run_scenario(&toml, &host, true).await;
    assert_eq!(report.aggregated.requests, 20);
    assert_eq!(report.aggregated.failures, 0, "{:?}", report.failures);
    // One per user, plus the pre-flight reachability check.
    assert_eq!(accepted.load(Ordering::Relaxed), 2 + 1);
}
