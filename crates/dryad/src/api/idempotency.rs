//! The `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header): its syntax.
//!
//! The draft makes the value a Structured Field string, `"..."`. Many clients send the key bare
//! (`Idempotency-Key: 8e03978e-...`), so both forms are accepted and name the same key: 1 to
//! [`MAX_KEY_CHARS`] printable ASCII characters other than `"` and `\` (inside the quotes a
//! space is allowed too). Anything else is a 400 `invalid_idempotency_key`.

use axum::http::HeaderMap;

use crate::error::ApiError;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// Longest accepted key, in characters (without the quotes).
pub const MAX_KEY_CHARS: usize = 255;

/// The accepted values, as the OpenAPI document states them (ECMA-262 regular expression).
pub const PATTERN: &str = r#"^("[ !#-\[\]-~]{1,255}"|[!#-\[\]-~]{1,255})$"#;

/// The key of a request, if it has one.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("send one Idempotency-Key header, not several"));
    }
    parse(value.as_bytes()).map(Some)
}

fn parse(raw: &[u8]) -> Result<String, ApiError> {
    let (inner, quoted) = match raw {
        [b'"', inner @ .., b'"'] => (inner, true),
        _ => (raw, false),
    };
    if inner.is_empty() {
        return Err(invalid("the key is empty"));
    }
    if inner.len() > MAX_KEY_CHARS {
        return Err(invalid(format!(
            "the key is {} characters long; at most {MAX_KEY_CHARS} are accepted",
            inner.len()
        )));
    }
    let allowed =
        |b: u8| matches!(b, b'!'..=b'~') && b != b'"' && b != b'\\' || quoted && b == b' ';
    if let Some(bad) = inner.iter().find(|b| !allowed(**b)) {
        return Err(invalid(format!(
            "byte 0x{bad:02x} is not allowed: a key is printable ASCII other than '\"' and '\\\\' \
             (a space only inside quotes)"
        )));
    }
    Ok(String::from_utf8_lossy(inner).into_owned())
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(
        "invalid_idempotency_key",
        format!("Idempotency-Key: {}", detail.into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_forms_name_the_same_key() {
        assert_eq!(parse(br#""abc-123""#).unwrap(), "abc-123");
        assert_eq!(parse(b"abc-123").unwrap(), "abc-123");
        assert_eq!(parse(br#""with space""#).unwrap(), "with space");
        let long = "k".repeat(MAX_KEY_CHARS);
        assert_eq!(parse(long.as_bytes()).unwrap(), long);
    }

    #[test]
    fn bad_keys_are_400() {
        for raw in [
            &b""[..],
            b"\"\"",
            b"with space",
            b"\"a\\\"b\"",
            b"a\"b",
            b"caf\xc3\xa9",
            b"\"",
        ] {
            let e = parse(raw).unwrap_err();
            assert_eq!(e.code(), "invalid_idempotency_key", "{raw:?}");
            assert_eq!(e.status(), 400);
        }
        let too_long = "k".repeat(MAX_KEY_CHARS + 1);
        assert!(parse(too_long.as_bytes()).is_err());
    }
}
