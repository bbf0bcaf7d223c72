//! The write token: every write carries `Authorization: Bearer <token>`, compared in
//! constant time; without a token configured, the console is read-only.

use hyper::{header, HeaderMap, StatusCode};

use crate::reply::ApiError;

/// The refusal of a write on a console started without a token.
pub(crate) const READ_ONLY: &str = "the console is read-only: start it with --write-token";
/// The refusal of a write without the right token.
pub(crate) const WRONG_TOKEN: &str = "wrong write token";

/// Whether `headers` carry the write token `expected`: 403 otherwise.
pub(crate) fn check(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, READ_ONLY));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, WRONG_TOKEN))
    }
}

/// `a == b` in time that depends on their lengths only, not on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        for wrong in [&b""[..], b"s3cre", b"s3cret!", b"S3cret", b"\xffs3cret"] {
            assert!(!constant_time_eq(wrong, b"s3cret"), "{wrong:?}");
        }
        let mut headers = HeaderMap::new();
        assert_eq!(check(None, &headers).map_err(|e| e.body["error"].clone()), Err(READ_ONLY.into()));
        assert_eq!(check(Some("t"), &headers).map_err(|e| e.body["error"].clone()), Err(WRONG_TOKEN.into()));
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().expect("header"));
        assert!(check(Some("t"), &headers).is_ok());
    }
}
