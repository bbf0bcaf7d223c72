//! Routing: the page's files, then the JSON API under `/api/` (reads with GET; every other
//! method is a write and needs the token, checked before the body is read).

use std::sync::Arc;

use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

use crate::console::State;
use crate::reply::{self, ApiError, Body};

/// The response to `req`.
pub(crate) async fn route(req: Request<Incoming>, state: Arc<State>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let Some(api) = path.strip_prefix("/api/") else {
        return page(req.method(), &path);
    };
    let segments = match crate::input::segments(api) {
        Ok(segments) => segments,
        Err(e) => return reply::reply(Err(e)),
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if req.method() == Method::GET {
        return crate::routes::read(&state, &segments).await;
    }
    crate::routes::write(&state, &segments, req).await
}

/// `GET /` and `GET /assets/<file>`: the embedded page.
fn page(method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let e = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "the page is read with GET");
        return reply::reply(Err(e));
    }
    let file = match path {
        "/" | "/index.html" => Some("index.html"),
        _ => path.strip_prefix("/assets/").filter(|f| !f.is_empty()),
    };
    match file.and_then(crate::assets::asset) {
        Some((content_type, body)) => reply::bytes(StatusCode::OK, content_type, Bytes::from_static(body)),
        None => reply::reply(Err(ApiError::not_found(format!("no such file: {path}")))),
    }
}
