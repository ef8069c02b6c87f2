//! HTTPS via rustls with the webpki root certificates.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// A TLS connector and the name to verify.
#[derive(Clone)]
pub struct TlsSetup {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Why TLS could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid TLS server name {0:?}")]
pub struct TlsError(pub String);

impl TlsSetup {
    /// Client configuration trusting the webpki roots, speaking HTTP/1.1.
    pub fn new(host: &str) -> Result<Self, TlsError> {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| TlsError(host.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| TlsError(host.to_string()))?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }
}
