//! Request input: path segments, names, addresses and bodies, each checked with a clear 400.

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
