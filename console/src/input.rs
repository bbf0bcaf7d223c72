//! Request input: path segments, names, addresses, versions and bodies, each checked with a
//! clear 400 (413 for a body over the limit).

use config_center::Expect;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::Value;

use crate::reply::ApiError;

/// The largest path segment accepted (a percent-decoded provider address or name).
const MAX_SEGMENT: usize = 1024;

/// The `/`-separated segments of `path`, percent-decoded (UTF-8 only, no empty segment
/// except a trailing one, which is dropped).
pub(crate) fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/')
        .map(|raw| {
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| ApiError::bad_request(format!("path segment {raw:?} is not UTF-8")))?;
            if decoded.is_empty() || decoded.len() > MAX_SEGMENT {
                return Err(ApiError::bad_request("empty or oversized path segment"));
            }
            Ok(decoded.into_owned())
        })
        .collect()
}

/// `name` if it is a valid service name.
pub(crate) fn service(name: &str) -> Result<&str, ApiError> {
    registry::validate_service_name(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(name)
}

/// `kind` (`namespace`, `name`) `value` if it is a valid config name.
pub(crate) fn config_name<'a>(kind: &'static str, value: &'a str) -> Result<&'a str, ApiError> {
    config_center::validate_name(kind, value).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(value)
}

/// `address` if it is `host:port` (a provider's address as the API lists it).
pub(crate) fn address(address: &str) -> Result<&str, ApiError> {
    let valid_host = |h: &str| {
        !h.is_empty()
            && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
    };
    match address.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
        Some((host, Ok(port))) if valid_host(host) && port > 0 => Ok(address),
        _ => Err(ApiError::bad_request(format!("{address:?} is not HOST:PORT"))),
    }
}

/// The JSON object of `req`'s body, at most `limit` bytes.
pub(crate) async fn body(req: Request<Incoming>, limit: usize) -> Result<Value, ApiError> {
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {limit} bytes"));
    let declared = req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if declared.and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => return Err(ApiError::bad_request(format!("cannot read the request body: {e}"))),
    };
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::bad_request("the body must be a JSON object"))
    }
}

/// `body.expect_version`: missing is [`Expect::Any`], `null` (or -1) [`Expect::Absent`] (no
/// document yet, as the GET showed it), a number [`Expect::Version`].
pub(crate) fn expect(body: &Value) -> Result<Expect, ApiError> {
    match body.get("expect_version") {
        None => Ok(Expect::Any),
        Some(Value::Null) => Ok(Expect::Absent),
        Some(v) => match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(-1) => Ok(Expect::Absent),
            Some(n) if n >= 0 => Ok(Expect::Version(n)),
            _ => Err(ApiError::bad_request("expect_version must be a version (a number >= 0) or null")),
        },
    }
}

/// The string `body[key]` (required).
pub(crate) fn string<'a>(body: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("{key:?} (a string) is required")))
}

/// The version `body[key]` (required).
pub(crate) fn version(body: &Value, key: &str) -> Result<i32, ApiError> {
    body.get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("{key:?} (a version, a number >= 0) is required")))
}

/// `body.force` (default false).
pub(crate) fn force(body: &Value) -> Result<bool, ApiError> {
    match body.get("force") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request("force must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_versions_and_segments_are_checked() {
        assert!(address("10.0.0.5:8080").is_ok() && address("[::1]:80").is_ok());
        for bad in ["10.0.0.5", ":80", "h:0", "h:x", "<script>:1", "a b:1"] {
            assert!(address(bad).is_err(), "{bad}");
        }
        assert_eq!(expect(&json!({})).ok(), Some(Expect::Any));
        assert_eq!(expect(&json!({ "expect_version": null })).ok(), Some(Expect::Absent));
        assert_eq!(expect(&json!({ "expect_version": 3 })).ok(), Some(Expect::Version(3)));
        assert!(expect(&json!({ "expect_version": "3" })).is_err());
        assert_eq!(
            segments("services/a%2Fb/x").ok(),
            Some(vec!["services".into(), "a/b".into(), "x".into()])
        );
        assert!(segments("services//x").is_err() && segments("%ff").is_err());
    }
}
