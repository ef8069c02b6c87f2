//! A small HTTP/1.1 GET over a fresh TCP connection with one overall timeout, for scraping
//! `/metrics` and reading probe URLs. Plain `http://` only: scrape targets are local.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

/// Bodies above this are refused (a metrics page is kilobytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpGetError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("GET {url} timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("GET {url}: cannot connect: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("GET {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("GET {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: body is not valid (over {MAX_BODY_BYTES} bytes or broken): {reason}")]
    Body { url: String, reason: String },
    #[error("GET {url}: body is not UTF-8")]
    NotUtf8 { url: String },
}

/// A parsed `http://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub authority: String,
    pub path_and_query: String,
    original: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<Self, HttpGetError> {
        let invalid = |reason: &str| HttpGetError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(invalid(&format!(
                    "scheme {other:?} is not supported, use http://"
                )));
            }
            None => return Err(invalid("no scheme, use http://host:port/path")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let authority = if authority.port().is_some() {
            authority.as_str().to_owned()
        } else {
            format!("{}:80", authority.as_str())
        };
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(Self {
            authority,
            path_and_query,
            original: url.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }
}

/// GET `url` and return the body as text; any status but 2xx is an error.
pub async fn get_text(url: &HttpUrl, timeout: Duration) -> Result<String, HttpGetError> {
    match tokio::time::timeout(timeout, get_inner(url)).await {
        Ok(result) => result,
        Err(_) => Err(HttpGetError::Timeout {
            url: url.original.clone(),
            timeout,
        }),
    }
}

async fn get_inner(url: &HttpUrl) -> Result<String, HttpGetError> {
    let u = || url.original.clone();
    let stream = tokio::net::TcpStream::connect(&url.authority)
        .await
        .map_err(|source| HttpGetError::Connect { url: u(), source })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| HttpGetError::Http { url: u(), source })?;
    let driver = tokio::spawn(conn);
    let request = http::Request::get(url.path_and_query.as_str())
        .header(http::header::HOST, url.authority.as_str())
        .header(http::header::ACCEPT, "text/plain, application/json, */*")
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| HttpGetError::InvalidUrl {
            url: u(),
            reason: e.to_string(),
        })?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|source| HttpGetError::Http { url: u(), source })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| HttpGetError::Body {
                url: u(),
                reason: e.to_string(),
            })?
            .to_bytes();
        if !status.is_success() {
            return Err(HttpGetError::Status {
                url: u(),
                status: status.as_u16(),
            });
        }
        String::from_utf8(body.to_vec()).map_err(|_| HttpGetError::NotUtf8 { url: u() })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:9000/metrics?x=1").unwrap();
        assert_eq!(u.authority, "127.0.0.1:9000");
        assert_eq!(u.path_and_query, "/metrics?x=1");
        let u = HttpUrl::parse("http://localhost").unwrap();
        assert_eq!(u.authority, "localhost:80");
        assert_eq!(u.path_and_query, "/");
        assert!(HttpUrl::parse("https://127.0.0.1/").is_err());
        assert!(HttpUrl::parse("127.0.0.1:80/metrics").is_err());
        assert!(HttpUrl::parse("http://").is_err());
        assert!(HttpUrl::parse("not a url").is_err());
    }
}
