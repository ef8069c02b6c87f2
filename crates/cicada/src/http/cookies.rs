//! A per-user cookie jar. One jar talks to one target host, so cookies are kept by name; an
//! expired cookie (`Max-Age<=0`) is removed. Attributes other than `Max-Age` are not applied.

/// Cookies a user has been given.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
    header: Option<Vec<u8>>,
}

impl CookieJar {
    /// Store the values of a response's `Set-Cookie` headers.
    pub fn store<'a>(&mut self, set_cookie: impl IntoIterator<Item = &'a [u8]>) {
        let mut changed = false;
        for value in set_cookie {
            let Ok(text) = std::str::from_utf8(value) else {
                continue;
            };
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
                // Only valid header bytes: a value with a control character is not sent.
                joined
                    .bytes()
                    .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
                    .then(|| joined.into_bytes())
            };
        }
    }

    /// The `Cookie` header to send, if any cookie is held.
    pub fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_and_expires() {
        let mut jar = CookieJar::default();
        jar.store([&b"a=1; Path=/; HttpOnly"[..], b"b=2"]);
        assert_eq!(jar.header().unwrap(), b"a=1; b=2");
        jar.store([&b"a=; Max-Age=0"[..], b"b=3"]);
        assert_eq!(jar.header().unwrap(), b"b=3");
        jar.store([&b"b=; max-age=-1"[..]]);
        assert_eq!(jar.header(), None);
    }
}
