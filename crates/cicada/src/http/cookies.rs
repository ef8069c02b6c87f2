//! A per-user cookie jar. One jar talks to one target host, so cookies are kept by name; an
//! expired cookie (`Max-Age<=0`) is removed. Attributes other than `Max-Age` are not applied.

use http::HeaderValue;
use http::header::{HeaderMap, SET_COOKIE};

/// Cookies a user has been given.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
    header: Option<HeaderValue>,
}

impl CookieJar {
    /// Store the `Set-Cookie` headers of a response.
    pub fn store(&mut self, headers: &HeaderMap) {
        let mut changed = false;
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, val)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, val) = (name.trim(), val.trim());
            if name.is_empty() {
                continue;
            }
            let expired = parts.any(|attr| {
                attr.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("max-age")
                        && v.trim().parse::<i64>().is_ok_and(|n| n <= 0)
                })
            });
            self.cookies.retain(|(n, _)| n != name);
            if !expired {
                self.cookies.push((name.to_string(), val.to_string()));
            }
            changed = true;
        }
        if changed {
            self.header = if self.cookies.is_empty() {
                None
            } else {
                let joined = self
                    .cookies
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                HeaderValue::from_str(&joined).ok()
            };
        }
    }

    /// The `Cookie` header to send, if any cookie is held.
    pub fn header(&self) -> Option<&HeaderValue> {
        self.header.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_and_expires() {
        let mut jar = CookieJar::default();
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("a=1; Path=/; HttpOnly"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("b=2"));
        jar.store(&h);
        assert_eq!(jar.header().unwrap(), "a=1; b=2");
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("a=; Max-Age=0"));
        h.append(SET_COOKIE, HeaderValue::from_static("b=3"));
        jar.store(&h);
        assert_eq!(jar.header().unwrap(), "b=3");
    }
}
