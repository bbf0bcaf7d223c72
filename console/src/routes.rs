//! The API's routes: which handler answers which method and path.

use hyper::Response;

use crate::console::State;
use crate::reply::{self, ApiError, Body};

/// A GET under `/api/`.
pub(crate) async fn read(state: &State, segments: &[&str], _query: Option<&str>) -> Response<Body> {
    let answer = match segments {
        ["overview"] => Ok(crate::overview::overview(state)),
        _ => Err(ApiError::not_found(format!("no such API: /api/{}", segments.join("/")))),
    };
    reply::reply(answer)
}
